"""Saving and loading a fitted joint model without pickle.

A saved joint model is a folder::

    manifest.json          SHA-256 of every other file (checked first)
    joint.json             format version, class, versions, the small state
    joint.safetensors      the per-stage calibration arrays
    joint.skops            parameters, fitted routers or score (skops)
    stage-0/, stage-1/ ... one folder per stage, cheapest first:
        estimator.skops        a scikit-learn model (skops), or
        model.safetensors ...  a transformers model and its tokenizer
                               (``save_pretrained``), plus classifier.json
                               and classifier.safetensors for a
                               TransformerClassifier's own fitted state
    head.safetensors       the sequence energy head of a JointSeq2Seq

What is saved is each estimator's declared fitted state (its
``fitted_state`` method), and a load goes back through its
``restore_fitted_state``, which checks the state as ``fit`` makes it: no
attribute is written from the folder that the estimator does not declare.
A save is atomic: it is written to a temporary folder beside the target and
renamed into place, so a failure (a full disk) leaves nothing behind.

The manifest is a checksum, not a signature: it detects damage and edits
that did not rewrite it, not a deliberate edit that did. The loader's checks
(the format, the declared keys, trusted types, sub-model folders inside the
saved folder, consistent classes and finite thresholds) are what stand
between an edited folder and a wrong model; load only folders you trust.

Loading executes no code from the folder: JSON is parsed, arrays are read by
safetensors, transformers weights only from ``*.safetensors`` files with
``trust_remote_code=False``, and skops files only when every type they hold
is trusted: skops' own defaults, elang_sk's estimators, and the type names the
caller lists in ``trusted`` after reviewing them. torch, transformers and
skops are imported only when a folder needs them.
"""

import hashlib
import importlib
import inspect
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

FORMAT = "elang_sk.joint"
FORMAT_VERSION = 2

_MANIFEST = "manifest.json"
_STATE = "joint.json"
_ARRAYS = "joint.safetensors"
_PARAMS = "joint.skops"
_HEAD = "head.safetensors"
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


def _joint_classes():
    """The joint estimators that save_joint writes, by class name."""
    from elang_sk.joint._cascade import CascadeClassifier
    from elang_sk.joint._joint import JointClassifier

    classes = {cls.__name__: cls for cls in (JointClassifier, CascadeClassifier)}
    classes["JointSeq2Seq"] = None  # imported when needed (torch)
    return classes


def _joint_class(kind):
    if kind == "JointSeq2Seq":
        from elang_sk.joint._seq2seq import JointSeq2Seq

        return JointSeq2Seq
    return _joint_classes()[kind]


def _is_transformer_classifier(est):
    # The class is imported only if torch already is: a plain sklearn model
    # never imports torch to be saved.
    module = sys.modules.get("elang_sk.hf._transformers")
    return module is not None and isinstance(est, module.TransformerClassifier)


def _save_transformer(model, tokenizer, folder):
    folder.mkdir()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return {"model_class": type(model).__name__}


def _save_sub_model(est, folder, role):
    """Save one classifier stage into ``folder``; its spec for joint.json."""
    if _is_transformer_classifier(est):
        from safetensors.numpy import save_file

        state = est.fitted_state()
        info = _save_transformer(state["model"], state["tokenizer"], folder)
        save_file(
            {k: np.ascontiguousarray(v) for k, v in state["arrays"].items()},
            str(folder / "classifier.safetensors"),
        )
        spec = {
            "params": _public_params(est, skip=("model", "tokenizer")),
            "task": state["task"],
            "dtype": state["dtype"],
            "max_length": state["max_length"],
            "classes": _encode_array(state["classes"]),
            **info,
        }
        (folder / "classifier.json").write_text(json.dumps(spec, indent=1))
        return {"kind": "TransformerClassifier"}
    folder.mkdir()
    _skops_dump(est, folder / "estimator.skops", f"the {role} model")
    return {"kind": "skops"}


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


def _load_sub_model(folder, spec, trusted, device, role):
    kind = spec.get("kind")
    if kind == "skops":
        return _skops_load(folder / "estimator.skops", trusted, f"The {role} model")
    if kind != "TransformerClassifier":
        raise ModelFolderError(f"Unknown kind {kind!r} of the {role} model.")
    from safetensors.numpy import load_file

    from elang_sk.hf._loading import _AUTO_CLASSES
    from elang_sk.hf._transformers import TransformerClassifier

    state = json.loads((folder / "classifier.json").read_text())
    if state.get("task") not in _AUTO_CLASSES:
        raise ModelFolderError(
            f"Unknown task {state.get('task')!r} of the {role} model."
        )
    auto = _AUTO_CLASSES[state["task"]].__name__
    import torch

    dtype = getattr(torch, str(state["dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise ModelFolderError(f"{state['dtype']!r} is not a torch dtype.")
    model, tokenizer = _load_pretrained(folder, auto, state["model_class"], dtype)
    params = dict(state["params"])
    _check_param_names(TransformerClassifier, params, f"the {role} model")
    if device is not None:
        params["device"] = device
    est = TransformerClassifier(model, tokenizer, **params)
    return est.restore_fitted_state(
        {
            "model": model,
            "tokenizer": tokenizer,
            "task": state["task"],
            "dtype": state["dtype"],
            "max_length": state["max_length"],
            "classes": _decode_array(state["classes"]),
            "arrays": load_file(str(folder / "classifier.safetensors")),
        }
    )


def _check_param_names(cls, params, what):
    """Refuse parameters the class does not take, and a saved ``memory``."""
    names = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(params) - names)
    if unknown:
        raise ModelFolderError(
            f"The saved parameters of {what} include {unknown}, which "
            f"{cls.__name__} does not take: the folder was changed."
        )
    saved = sorted(set(params) & _NOT_SAVED)
    if saved:
        raise ModelFolderError(
            f"The saved parameters of {what} set {saved}, which save_joint never "
            "saves (a cache location or a teacher model): the folder was changed."
        )


def _stage_folder(folder, k):
    """The folder of stage ``k``, always inside the saved folder."""
    return folder / f"stage-{k}"


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
    joint : JointClassifier, CascadeClassifier or JointSeq2Seq
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
        saved without pickle or loaded back (checked before the folder is
        put in place: nothing is left behind).

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
    kinds = _joint_classes()
    kind = type(joint).__name__
    if kind not in kinds or not hasattr(joint, "calibration_"):
        raise TypeError(
            f"save_joint takes a fitted {', '.join(kinds)}; got "
            f"{'an unfitted ' if kind in kinds else 'a '}{kind}"
            f"{'. Fit it first.' if kind in kinds else '.'}"
        )
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(
            f"{folder} already exists and is not an empty folder; save_joint "
            "never overwrites. Remove it or choose another folder."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        _write_joint(joint, kind, tmp)
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _write_joint(joint, kind, folder):
    """Write every file of a saved joint model into ``folder``."""
    state = joint.fitted_state()
    arrays = {
        f"calibration.{key}": np.ascontiguousarray(value, dtype=np.float64)
        for key, value in state["calibration"].items()
    }
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": kind,
        "costs": state["costs"],
        "selection": state["selection"],
        "calibration": sorted(state["calibration"]),
        "calibrated_on": state["calibrated_on"],
        "stages": [],
    }
    model_params = type(joint).model_params(state["models"])
    params = {
        k: v
        for k, v in joint.get_params(deep=False).items()
        if k not in model_params and k not in _NOT_SAVED
    }
    fitted = {}
    torch_used = False
    if kind == "JointSeq2Seq":
        from safetensors.torch import save_file

        torch_used = True
        fitted["score"] = state["score"]
        info["generation_kwargs"] = state["generation_kwargs"]
        info["outputs"] = state["outputs"]
        for k, (name, (model, tokenizer)) in enumerate(state["models"].items()):
            spec = _save_transformer(model, tokenizer, _stage_folder(folder, k))
            info["stages"].append({"name": name, "kind": "transformers", **spec})
        info["head"] = None
        if state["head"] is not None:
            info["head"] = state["head"]["spec"]
            save_file(state["head"]["tensors"], str(folder / _HEAD))
    else:
        fitted["routers"] = state["routers"]
        info["classes"] = _encode_array(state["classes"])
        info["logit_sources"] = state["logit_sources"]
        for k, (name, model) in enumerate(state["models"].items()):
            spec = _save_sub_model(model, _stage_folder(folder, k), f"{name!r} stage")
            info["stages"].append({"name": name, **spec})
            torch_used |= spec["kind"] == "TransformerClassifier"
    _skops_dump(
        {"params": params, "fitted": fitted},
        folder / _PARAMS,
        "the joint model's parameters and routers",
    )
    from safetensors.numpy import save_file as save_arrays

    save_arrays(arrays, str(folder / _ARRAYS))
    info["versions"] = _versions(torch_used)
    try:
        text = json.dumps(info, indent=1, allow_nan=True)
    except TypeError as exc:
        raise TypeError(f"Cannot save the joint model's state as JSON: {exc}") from exc
    (folder / _STATE).write_text(text)
    # A model that could not be loaded back is refused now, not at load time.
    for path in sorted(folder.rglob("*.skops")):
        _check_loadable(path)
    manifest = {name: _sha256(folder / name) for name in _files(folder)}
    (folder / _MANIFEST).write_text(
        json.dumps({"format": FORMAT, "files": manifest}, indent=1)
    )


def _check_loadable(path):
    """Load a skops file just written, trusting its own types; refuse on failure."""
    sio = _import_skops()
    try:
        sio.load(path, trusted=sio.get_untrusted_types(file=path))
    except Exception as exc:
        raise TypeError(
            f"Cannot save {path.parent.name}/{path.name}: skops could not load it "
            f"back ({type(exc).__name__}: {exc}). It holds an object that only "
            "pickle could restore (a lambda, a local function or class); use "
            "importable, module-level functions and classes."
        ) from exc


_STATE_KEYS = {
    "format",
    "format_version",
    "class",
    "costs",
    "selection",
    "calibration",
    "calibrated_on",
    "stages",
    "versions",
    "classes",
    "logit_sources",
    "generation_kwargs",
    "head",
    "outputs",
}


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
    joint : JointClassifier, CascadeClassifier or JointSeq2Seq
        The fitted joint model; it predicts what the saved one did. Its
        sub-models are the loaded fitted models (pre-trained, as if passed
        fitted) and ``memory`` is None.

    Raises
    ------
    ModelFolderError
        If the folder is missing files, has extra or changed files, is of
        another format version, holds untrusted types, or a state that
        ``fit`` could not have made (inconsistent classes, unknown keys or
        parameters, a saved ``memory``, thresholds that are not numbers).

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
        return _read_joint(folder, trusted, device)
    except ModelFolderError:
        raise
    except (KeyError, TypeError, ValueError, OSError, AttributeError) as exc:
        raise ModelFolderError(
            f"{folder} cannot be loaded: {type(exc).__name__}: {exc}. The folder "
            "is damaged or was changed after saving; save the model again."
        ) from exc
    except Exception as exc:  # a library's own error (zip, safetensors...)
        raise ModelFolderError(
            f"{folder} cannot be loaded: {type(exc).__name__}: {exc}. A file is "
            "damaged; save the model again."
        ) from exc


def _read_joint(folder, trusted, device):
    try:
        info = json.loads((folder / _STATE).read_text())
    except ValueError as exc:
        raise ModelFolderError(f"{_STATE} in {folder} is damaged: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ModelFolderError(f"{folder} does not hold an elang_sk joint model.")
    if info.get("format_version") != FORMAT_VERSION:
        raise ModelFolderError(
            f"{folder} was saved by an older format of elang_sk (format version "
            f"{info.get('format_version')!r}, elang_sk "
            f"{info.get('versions', {}).get('elang_sk')}); this elang_sk reads "
            f"version {FORMAT_VERSION}. Load it with the elang_sk that saved it "
            "and save it again with this one, or refit it."
        )
    unknown = sorted(set(info) - _STATE_KEYS)
    if unknown:
        raise ModelFolderError(
            f"{_STATE} in {folder} has keys save_joint never writes: {unknown}."
        )
    kind = info["class"]
    if kind not in _joint_classes():
        raise ModelFolderError(f"Unknown joint model class {kind!r} in {folder}.")
    cls = _joint_class(kind)
    from safetensors.numpy import load_file

    arrays = load_file(str(folder / _ARRAYS))
    expected = {f"calibration.{key}" for key in info["calibration"]}
    if set(arrays) != expected:
        raise ModelFolderError(
            f"{_ARRAYS} holds {sorted(arrays)}; {_STATE} lists {sorted(expected)}."
        )
    saved = _skops_load(folder / _PARAMS, trusted, "The joint model's parameters")
    params, fitted = saved["params"], saved["fitted"]
    _check_param_names(cls, params, f"the {kind}")
    stages = info["stages"]
    for spec in stages:
        extra = sorted(set(spec) - {"name", "kind", "model_class"})
        if extra:
            raise ModelFolderError(
                f"{_STATE} in {folder} describes a stage with keys save_joint never "
                f"writes: {extra}. Stage folders are always stage-<k>/ inside the "
                "saved folder."
            )
    state = {
        "calibration": {
            key: arrays[f"calibration.{key}"] for key in info["calibration"]
        },
        "costs": info["costs"],
        "selection": info["selection"],
        "calibrated_on": info["calibrated_on"],
    }
    if kind == "JointSeq2Seq":
        models = {
            spec["name"]: _load_pretrained(
                _stage_folder(folder, k), "AutoModelForSeq2SeqLM", spec["model_class"]
            )
            for k, spec in enumerate(stages)
        }
        if device is not None:
            params = {**params, "device": device}
        head = None
        if info["head"] is not None:
            from safetensors.torch import load_file as load_tensors

            head = {"spec": info["head"], "tensors": load_tensors(str(folder / _HEAD))}
        state.update(
            models=models,
            score=fitted["score"],
            generation_kwargs=info["generation_kwargs"],
            head=head,
            outputs=info["outputs"],
        )
    else:
        models = {
            spec["name"]: _load_sub_model(
                _stage_folder(folder, k),
                spec,
                trusted,
                device,
                f"{spec['name']!r} stage",
            )
            for k, spec in enumerate(stages)
        }
        state.update(
            models=models,
            routers=fitted["routers"],
            logit_sources=info["logit_sources"],
            classes=_decode_array(info["classes"]),
        )
    joint = cls(**params, **cls.model_params(state["models"]))
    return joint.restore_fitted_state(state)


def _load_pretrained(folder, auto_class, model_class, dtype=None):
    import transformers

    from elang_sk.hf._loading import quiet_loading

    kwargs = {"dtype": dtype} if dtype is not None else {}
    with quiet_loading():
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
