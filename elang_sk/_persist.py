"""Saving and loading a fitted joint model without pickle.

A saved joint model is a folder::

    manifest.json          SHA-256 of every other file (checked first)
    joint.json             format version, class, versions, the small state
    joint.safetensors      calibration data and trade-off curve (arrays)
    joint.skops            parameters and the fitted router (skops)
    swift/, super/         one folder per sub-model:
        estimator.skops        a scikit-learn model (skops), or
        model.safetensors ...  a transformers model and its tokenizer
                               (``save_pretrained``), plus classifier.json
                               and classifier.safetensors for a
                               TransformerClassifier's own fitted state
    head.safetensors       the sequence energy head of a JointSeq2Seq

Loading executes no code from the folder: JSON is parsed, arrays are read by
safetensors, transformers weights only from ``*.safetensors`` files with
``trust_remote_code=False``, and skops files only when every type they hold
is trusted: skops' own defaults, elang_sk's estimators, and the type names the
caller lists in ``trusted`` after reviewing them. torch, transformers and
skops are imported only when a folder needs them.
"""

import hashlib
import importlib
import json
import platform
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch

FORMAT = "elang_sk.joint"
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_STATE = "joint.json"
_ARRAYS = "joint.safetensors"
_PARAMS = "joint.skops"
_HEAD = "head.safetensors"
_KINDS = ("JointClassifier", "JointSeq2Seq")
# Parameters that only matter while fitting and hold objects that do not
# travel (a cache folder, a teacher model): a loaded model has them unset.
_NOT_SAVED = {"memory", "distill_from"}


class ModelFolderError(ValueError):
    """A saved joint model folder is damaged, tampered with or incompatible.

    Raised by :func:`load_joint` before anything in the folder is used: a
    file missing, added or changed since :func:`save_joint` wrote it, another
    format version, or a skops file holding types that are not trusted.

    Examples
    --------
    >>> import tempfile
    >>> from elang_sk import ModelFolderError, load_joint
    >>> try:
    ...     load_joint(tempfile.mkdtemp())
    ... except ModelFolderError as exc:
    ...     print(str(exc)[:46])
    ...
    No manifest.json in the folder: it is not a jo
    """


# -- helpers -------------------------------------------------------------------


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder):
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    )


def _encode_array(value):
    """A label array (str, int, object of str) as JSON: dtype and values."""
    value = np.asarray(value)
    return {
        "dtype": value.dtype.str if value.dtype != object else "object",
        "values": value.tolist(),
    }


def _decode_array(spec):
    dtype = object if spec["dtype"] == "object" else np.dtype(spec["dtype"])
    return np.asarray(spec["values"], dtype=dtype)


def _split_bunch(bunch, prefix, arrays):
    """Numeric arrays of a Bunch into ``arrays``; the rest as JSON."""
    meta = {}
    for key, value in bunch.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[f"{prefix}.{key}"] = np.ascontiguousarray(value)
            meta[key] = {"array": f"{prefix}.{key}"}
        elif isinstance(value, np.ndarray):
            meta[key] = {"labels": _encode_array(value)}
        elif isinstance(value, bool | int | float | str) or value is None:
            meta[key] = {"value": value}
        elif isinstance(value, np.generic):
            meta[key] = {"value": value.item()}
        else:
            raise TypeError(
                f"Cannot save {prefix}[{key!r}] of type {type(value).__name__}: "
                "only arrays, numbers and strings are saved."
            )
    return meta


def _join_bunch(meta, arrays):
    out = Bunch()
    for key, spec in meta.items():
        if "array" in spec:
            out[key] = arrays[spec["array"]]
        elif "labels" in spec:
            out[key] = _decode_array(spec["labels"])
        else:
            out[key] = spec["value"]
    return out


def _versions(torch_used):
    import sklearn

    import elang_sk

    versions = {
        "elang_sk": elang_sk.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
    try:
        import skops

        versions["skops"] = skops.__version__
    except ImportError:  # pragma: no cover - skops is needed to save anyway
        pass
    if torch_used:
        import torch
        import transformers

        versions.update(torch=torch.__version__, transformers=transformers.__version__)
    return versions


def _import_skops():
    try:
        import skops.io
    except ImportError as exc:
        raise ImportError(
            "Saving and loading joint models needs skops: pip install skops "
            "(or pip install 'elang_sk[save]')."
        ) from exc
    return skops.io


def _is_transformer_classifier(est):
    return type(est).__name__ == "TransformerClassifier" and type(
        est
    ).__module__.startswith("elang_sk.")


def _own_types(untrusted):
    """The names in ``untrusted`` that are elang_sk's own estimator classes.

    Only modules of this package are imported to check, never a module a
    file names elsewhere.
    """
    own = []
    for name in untrusted:
        module, _, attr = name.rpartition(".")
        if not module.startswith("elang_sk."):
            continue
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type) and issubclass(cls, BaseEstimator):
            own.append(name)
    return own


def _skops_dump(obj, path, what):
    sio = _import_skops()
    try:
        sio.dump(obj, path)
    except Exception as exc:
        raise TypeError(
            f"Cannot save {what} with skops ({type(exc).__name__}: {exc}). "
            "save_joint stores scikit-learn models with skops and "
            "TransformerClassifier / transformers models with save_pretrained; "
            "other objects cannot be saved without pickle."
        ) from exc


def _skops_load(path, trusted, what):
    sio = _import_skops()
    untrusted = sio.get_untrusted_types(file=path)
    allowed = set(_own_types(untrusted)) | set(trusted or ())
    unknown = sorted(set(untrusted) - allowed)
    if unknown:
        raise ModelFolderError(
            f"{what} ({path.name}) holds types that are not trusted: {unknown}. "
            "Loading them could run their code. If you trust the folder's "
            "origin and these types, pass them: load_joint(folder, "
            f"trusted={unknown!r})."
        )
    return sio.load(path, trusted=sorted(allowed))


# -- sub-models ------------------------------------------------------------------


def _public_params(est, skip=()):
    """JSON-able constructor parameters of ``est`` (objects left out)."""
    params = {}
    for key, value in est.get_params(deep=False).items():
        if key in skip or key in _NOT_SAVED:
            continue
        if isinstance(value, bool | int | float | str) or value is None:
            params[key] = value
        elif isinstance(value, dict | list | tuple):
            try:
                json.dumps(value)
            except TypeError:
                continue
            params[key] = value
    return params


def _save_transformer(model, tokenizer, folder):
    folder.mkdir()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return {"model_class": type(model).__name__}


def _save_sub_model(est, folder, role):
    """Save one sub-model of a JointClassifier into ``folder``."""
    if _is_transformer_classifier(est):
        from safetensors.numpy import save_file

        info = _save_transformer(est.model_, est.tokenizer_, folder)
        arrays = {
            name: np.ascontiguousarray(getattr(est, name))
            for name in ("columns_", "label_token_ids_", "coef_", "intercept_")
            if getattr(est, name, None) is not None
        }
        save_file(arrays, str(folder / "classifier.safetensors"))
        state = {
            "params": _public_params(est, skip=("model", "tokenizer")),
            "task_": est.task_,
            "dtype_": str(est.dtype_).removeprefix("torch."),
            "max_length_": int(est.max_length_),
            "classes_": _encode_array(est.classes_),
            **info,
        }
        (folder / "classifier.json").write_text(json.dumps(state, indent=1))
        return {"kind": "TransformerClassifier"}
    folder.mkdir()
    _skops_dump(est, folder / "estimator.skops", f"the {role} model")
    return {"kind": "skops"}


def _load_pretrained(folder, auto_class, model_class, dtype=None):
    import transformers

    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = getattr(transformers, auto_class).from_pretrained(
        folder,
        use_safetensors=True,
        trust_remote_code=False,
        local_files_only=True,
        **kwargs,
    )
    if type(model).__name__ != model_class:
        raise ModelFolderError(
            f"{folder.name}/ holds a {type(model).__name__} where a "
            f"{model_class} was saved: the folder was changed."
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        folder, trust_remote_code=False, local_files_only=True
    )
    return model.eval(), tokenizer


def _load_sub_model(folder, spec, trusted, device, role):
    if spec["kind"] == "skops":
        return _skops_load(folder / "estimator.skops", trusted, f"The {role} model")
    import torch
    from safetensors.numpy import load_file

    from elang_sk._hf_loading import _AUTO_CLASSES
    from elang_sk._torch_utils import resolve_device
    from elang_sk._transformers import TransformerClassifier

    state = json.loads((folder / "classifier.json").read_text())
    auto = _AUTO_CLASSES[state["task_"]].__name__
    dtype = getattr(torch, state["dtype_"])
    model, tokenizer = _load_pretrained(folder, auto, state["model_class"], dtype)
    params = dict(state["params"])
    if device is not None:
        params["device"] = device
    est = TransformerClassifier(model, tokenizer, **params)
    est.classes_ = _decode_array(state["classes_"])
    est.n_classes_ = len(est.classes_)
    est._flops_memo = {}
    est._tokenizer_memo = None
    est.task_ = state["task_"]
    est.max_length_ = state["max_length_"]
    for name, value in load_file(str(folder / "classifier.safetensors")).items():
        setattr(est, name, value)
    est.tokenizer_ = tokenizer
    est.device_ = resolve_device(est.device)
    est.dtype_ = dtype
    est.model_ = model.to(device=est.device_, dtype=dtype)
    return est


# -- the joint model ---------------------------------------------------------------


def save_joint(joint, folder):
    """Save a fitted joint model to a folder, without pickle.

    The transformers models go in as safetensors (``save_pretrained``), the
    scikit-learn models and the router through skops, the joint model's own
    state (threshold, selection, logit source, costs, calibration summary,
    versions) as JSON and safetensors, and a manifest records the SHA-256 of
    every file. :func:`load_joint` reads it back; workers of
    :func:`elang_sk.distributed.predict_dataset` load from it.

    Parameters
    ----------
    joint : JointClassifier or JointSeq2Seq
        A fitted joint model. Its sub-models must be scikit-learn models
        (saved with skops), :class:`TransformerClassifier` s or, for
        :class:`JointSeq2Seq`, transformers models.
    folder : str or path-like
        Where to write; must not exist or be empty. ``memory`` (a cache
        location) is not saved: the loaded model has ``memory=None``.

    Returns
    -------
    folder : pathlib.Path
        The folder written.

    Raises
    ------
    ValueError
        If the folder exists and is not empty.
    TypeError
        If ``joint`` is not a fitted joint model, or a part of it cannot be
        saved without pickle.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from elang_sk import JointClassifier, load_joint, save_joint
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> joint = JointClassifier(
    ...     LogisticRegression().fit(X[:150], y[:150]),
    ...     DecisionTreeClassifier(random_state=0).fit(X[:150], y[:150]),
    ...     router="softmax",
    ... ).fit(X[150:], y[150:])
    >>> folder = save_joint(joint, tempfile.mkdtemp() + "/joint")

    A decision tree holds a compiled ``Tree`` object, which skops does not
    trust by default: name it to load the folder.

    >>> loaded = load_joint(folder, trusted=["sklearn.tree._tree.Tree"])
    >>> bool((loaded.predict(X) == joint.predict(X)).all())
    True
    """
    kind = type(joint).__name__
    if kind not in _KINDS or not hasattr(joint, "calibration_"):
        raise TypeError(
            f"save_joint takes a fitted JointClassifier or JointSeq2Seq; got "
            f"{'an unfitted ' if kind in _KINDS else ''}{kind}. Fit it first."
        )
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(
            f"{folder} already exists and is not an empty folder; save_joint "
            "never overwrites. Remove it or choose another folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": kind,
        "threshold_": float(joint.threshold_),
        "costs_": dict(joint.costs_),
        "calibration_": _split_bunch(joint.calibration_, "calibration", arrays),
        "curve_": _split_bunch(joint.curve_, "curve", arrays),
    }
    selection = joint.threshold_selection_
    state["threshold_selection_"] = {
        k: v for k, v in selection.items() if isinstance(v, bool | int | float | str)
    }
    skip = set(joint._sub_models) | set(joint._shared_params) | _NOT_SAVED
    params = {k: v for k, v in joint.get_params(deep=False).items() if k not in skip}
    fitted = {}
    if kind == "JointClassifier":
        state["classes_"] = _encode_array(joint.classes_)
        state["logit_source_"] = {
            "method": joint.logit_source_.method,
            "head": bool(joint.logit_source_.head),
        }
        fitted["router_"] = joint.router_
        torch_used = False
        state["sub_models"] = {}
        for role, est in (
            ("swift", joint.swift_estimator_),
            ("super", joint.super_estimator_),
        ):
            state["sub_models"][role] = _save_sub_model(est, folder / role, role)
            torch_used |= _is_transformer_classifier(est)
    else:
        from safetensors.torch import save_file

        torch_used = True
        fitted["score_"] = joint.score_
        state["generation_kwargs_"] = joint.generation_kwargs_
        state["sub_models"] = {
            role: _save_transformer(model, tokenizer, folder / role)
            for role, (model, tokenizer) in joint._models().items()
        }
        state["head_"] = None
        if joint.head_ is not None:
            head = joint.head_
            state["head_"] = {
                "d_model": int(head.queries.shape[1]),
                "n_positions": int(head.queries.shape[0]),
                "vocab_size": int(head.output_weight.shape[0]),
                "n_heads": int(head.attention.num_heads),
            }
            tensors = {
                k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()
            }
            save_file(tensors, str(folder / _HEAD))
    _skops_dump(
        {"params": params, "fitted": fitted},
        folder / _PARAMS,
        "the joint model's parameters and router",
    )
    from safetensors.numpy import save_file as save_arrays

    save_arrays(arrays, str(folder / _ARRAYS))
    state["versions"] = _versions(torch_used)
    try:
        text = json.dumps(state, indent=1, allow_nan=True)
    except TypeError as exc:
        raise TypeError(f"Cannot save the joint model's state as JSON: {exc}") from exc
    (folder / _STATE).write_text(text)
    manifest = {name: _sha256(folder / name) for name in _files(folder)}
    (folder / _MANIFEST).write_text(
        json.dumps({"format": FORMAT, "files": manifest}, indent=1)
    )
    return folder


def _check_folder(folder):
    """Verify the manifest: no file missing, added or changed."""
    if not folder.is_dir():
        raise ModelFolderError(
            f"{folder} is not a folder: give the folder save_joint wrote."
        )
    path = folder / _MANIFEST
    if not path.is_file():
        raise ModelFolderError(
            f"No {_MANIFEST} in the folder: it is not a joint model saved by "
            f"elang_sk.save_joint ({folder})."
        )
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{_MANIFEST} in {folder} is damaged: {exc}") from exc
    present = set(_files(folder)) - {_MANIFEST}
    missing = sorted(set(files) - present)
    added = sorted(present - set(files))
    if missing:
        raise ModelFolderError(
            f"Files missing from {folder}: {missing}. Copy the whole folder that "
            "save_joint wrote."
        )
    if added:
        raise ModelFolderError(
            f"Files in {folder} that save_joint did not write: {added}. The folder "
            "was changed after saving; remove them or save the model again."
        )
    changed = sorted(
        name for name, digest in files.items() if _sha256(folder / name) != digest
    )
    if changed:
        raise ModelFolderError(
            f"Files changed since saving (SHA-256 mismatch): {changed}. The folder "
            "was tampered with or damaged; save the model again."
        )


def load_joint(folder, *, trusted=None, device=None):
    """Load a joint model saved by :func:`save_joint`, without running its code.

    The manifest is checked first (every file present, none added, none
    changed), then the format version; transformers models are read from
    safetensors only, with ``trust_remote_code=False``; skops files are loaded
    only if every type in them is trusted.

    Parameters
    ----------
    folder : str or path-like
        The folder :func:`save_joint` wrote.
    trusted : list of str, default=None
        Extra type names (``"module.Class"``) to trust in the skops files,
        beyond skops' defaults and elang_sk's own estimators. The error for an
        untrusted type lists the names; review them before passing them.
    device : str, default=None
        Device of the transformers models (``"cpu"``, ``"cuda"``...); None
        keeps the saved ``device`` parameter (``"auto"`` by default).

    Returns
    -------
    joint : JointClassifier or JointSeq2Seq
        The fitted joint model; it predicts what the saved one did. Its
        sub-models are the loaded fitted models (pre-trained, as if passed
        fitted) and ``memory`` is None.

    Raises
    ------
    ModelFolderError
        If the folder is missing files, has extra or changed files, is of
        another format version, or holds untrusted types.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier, load_joint, save_joint
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> swift = LogisticRegression(C=0.01).fit(X[:100], y[:100])
    >>> big = LogisticRegression().fit(X[:100], y[:100])
    >>> joint = JointClassifier(swift, big, router="entropy").fit(X[100:], y[100:])
    >>> loaded = load_joint(save_joint(joint, tempfile.mkdtemp()))
    >>> loaded.threshold_ == joint.threshold_
    True
    """
    folder = Path(folder)
    _check_folder(folder)
    try:
        state = json.loads((folder / _STATE).read_text())
    except ValueError as exc:
        raise ModelFolderError(f"{_STATE} in {folder} is damaged: {exc}") from exc
    if state.get("format") != FORMAT or state.get("format_version") != FORMAT_VERSION:
        raise ModelFolderError(
            f"{folder} holds format {state.get('format')!r} version "
            f"{state.get('format_version')!r}; this elang_sk reads {FORMAT!r} "
            f"version {FORMAT_VERSION}. Save the model again with this version "
            f"(it was saved by elang_sk {state.get('versions', {}).get('elang_sk')})."
        )
    kind = state["class"]
    if kind not in _KINDS:
        raise ModelFolderError(f"Unknown joint model class {kind!r} in {folder}.")
    from safetensors.numpy import load_file

    arrays = load_file(str(folder / _ARRAYS))
    saved = _skops_load(folder / _PARAMS, trusted, "The joint model's parameters")
    params, fitted = saved["params"], saved["fitted"]
    if kind == "JointClassifier":
        from elang_sk._joint import JointClassifier
        from elang_sk._source import LogitSource

        models = [
            _load_sub_model(
                folder / role, state["sub_models"][role], trusted, device, role
            )
            for role in ("swift", "super")
        ]
        joint = JointClassifier(*models, **params)
        joint.swift_estimator_, joint.super_estimator_ = models
        joint.classes_ = _decode_array(state["classes_"])
        source = state["logit_source_"]
        joint.logit_source_ = LogitSource(source["method"], source["head"])
        joint.router_ = fitted["router_"]
    else:
        joint = _load_seq2seq(folder, state, params, fitted, device)
    joint.costs_ = Bunch(**state["costs_"])
    joint.calibration_ = _join_bunch(state["calibration_"], arrays)
    joint.curve_ = _join_bunch(state["curve_"], arrays)
    # The selection is recomputed from the saved calibration (for its curve
    # and densities), and keeps the saved threshold to the last bit.
    joint._selections = {}
    selection = joint.threshold_selection_
    selection.threshold = state["threshold_selection_"].get(
        "threshold", selection.threshold
    )
    return joint


def _load_seq2seq(folder, state, params, fitted, device):
    import torch
    from safetensors.torch import load_file

    from elang_sk._seq2seq import JointSeq2Seq
    from elang_sk._seq2seq_head import SequenceEnergyHead
    from elang_sk._torch_utils import resolve_device

    loaded = {
        role: _load_pretrained(
            folder / role, "AutoModelForSeq2SeqLM", spec["model_class"]
        )
        for role, spec in state["sub_models"].items()
    }
    if device is not None:
        params = {**params, "device": device}
    (swift, tok), (big, super_tok) = loaded["swift"], loaded["super"]
    joint = JointSeq2Seq(swift, big, tokenizer=tok, super_tokenizer=super_tok, **params)
    joint.device_ = resolve_device(joint.device)
    joint.swift_model_, joint.tokenizer_ = swift.to(joint.device_), tok
    joint.super_model_, joint.super_tokenizer_ = big.to(joint.device_), super_tok
    joint.score_ = fitted["score_"]
    joint.generation_kwargs_ = state["generation_kwargs_"]
    joint._flop_memo = {}
    joint.head_ = None
    if state["head_"] is not None:
        spec = state["head_"]
        head = SequenceEnergyHead(
            spec["d_model"],
            spec["n_positions"],
            torch.ones(spec["vocab_size"], spec["d_model"]),  # loaded below
            spec["n_heads"],
        )
        head.load_state_dict(load_file(str(folder / _HEAD)), strict=True)
        joint.head_ = head.to(joint.device_).eval()
    return joint
