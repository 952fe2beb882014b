"""The E-LANG evaluation protocol behind ``elang-sk run``.

1. Fit the Swift and the Super classifiers on the train split (features cached).
2. Fit the joint model (router, energy head, threshold) on the dev split.
3. Evaluate Swift, Super and the joint model on the test split: accuracy,
   FLOPs per input (counted), time per input (measured on fresh forward passes
   of a fixed sample of test inputs) and the routing ablation (including
   the risk-controlled threshold, whose loss against the Super is
   certified), with the oracle router as the limit: the fewest Super calls
   that reach the Super's accuracy, as routing papers define it. Per score,
   RouteLLM's metrics: the average performance gap recovered (APGR) and the
   Super calls needed for 50% and 80% of the Swift-Super gap.

Before any of it, every argument is checked (the model folders, the data
home, the output folder, the device, the threshold strategy), so that a typo
fails in a second rather than after the Super is fitted.

With ``calibration="cross-fit"`` the risk-controlled thresholds are certified
on more rows: the out-of-fold predictions of heads cross-fitted on the train
split, added to the dev rows (see ``docs/guarantees.rst`` for when this is
valid).
"""

import datetime
import json
import os
import platform
import re
import sys
import time
import warnings

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from elang_sk.__main__ import CALIBRATIONS, DEFAULTS, SCORES, THRESHOLD_STRATEGIES
from elang_sk._cache import hash_inputs
from elang_sk.joint._joint import JointClassifier
from elang_sk.metrics import (
    joint_cost,
    oracle_super_calls,
    performance_gap_recovered,
)
from elang_sk.routing._risk import CertificationWarning
from elang_sk.routing._router import EnergyRouter
from elang_sk.routing._threshold import ThresholdSelector

ABLATION_SCORES = SCORES
# Thresholds of the ablation, each chosen on dev: (strategy, tol).
RISK_DELTA = DEFAULTS["delta"]
ABLATION_STRATEGIES = (
    ("match_super", 0.0),
    ("match_super", 0.005),
    ("risk_control", 0.005),
    ("risk_control", 0.01),
)
N_CROSS_FIT_FOLDS = 5
# Bootstrap resamples of the test split for the 95% confidence intervals.
N_BOOTSTRAP = 1000


def _say(message, quiet):
    if not quiet:
        print(f"[elang-sk] {message}", file=sys.stderr, flush=True)


def _stderr_is_terminal():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return False


class _Progress:
    """Progress of the protocol's forward passes, named by model and split.

    On a terminal, a tqdm bar per run of forward passes; elsewhere (a log, a
    CI job), a line at most every ``every`` seconds and one when a run ends:
    ``[elang-sk] Super all-mpnet-base-v2: train features 1200/6363``. One
    reporter is shared by both models: :meth:`for_model` makes the callback
    a classifier's ``progress`` takes, and ``split`` says what runs now.
    """

    def __init__(self, quiet, every=30.0, terminal=None):
        self.quiet, self.every = quiet, every
        self.terminal = _stderr_is_terminal() if terminal is None else terminal
        self.split = "inputs"

    def for_model(self, label):
        """The ``progress(done, total)`` callback of the model named ``label``."""
        return _ModelProgress(self, label)


class _ModelProgress:
    """One model's progress callback; see :class:`_Progress`."""

    def __init__(self, reporter, label):
        self.reporter, self.label = reporter, label
        self.bar, self.last = None, 0.0

    def __call__(self, done, total):
        reporter = self.reporter
        if reporter.quiet or total == 0:
            return
        name = f"{self.label}: {reporter.split}"
        if reporter.terminal:
            if done == 0:
                from elang_sk._utils import progress_bar

                self.close()
                self.bar = progress_bar(2, total, True)
                if self.bar is not None:
                    self.bar.set_description_str(name, refresh=False)
            elif self.bar is not None:
                self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if done == 0:
            self.last = now
        elif done >= total or now - self.last >= reporter.every:
            self.last = now
            _say(f"{name} {done}/{total}", False)

    def close(self):
        """Close the bar, if one is shown."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __deepcopy__(self, memo):
        # Shared by the clones of the classifier (cross-fitting), like a logger.
        return self


def _resolve_model(name, data_home):
    from elang_sk.datasets import PRETRAINED_MODELS, fetch_pretrained_model

    if name in PRETRAINED_MODELS:
        return fetch_pretrained_model(name, data_home=data_home)
    return name


def _versions():
    import sklearn
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "elang_sk": __import__("elang_sk").__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def _machine(device):
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# Timings take the best of a few repeats, as timeit does: on a shared machine
# the minimum is the least disturbed measurement.
TIME_REPEATS = 3


def _best_seconds_per_input(run, n_inputs):
    best = np.inf
    for _ in range(TIME_REPEATS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / n_inputs


def _fresh_seconds_per_input(estimator, method, X):
    """Seconds per input of ``method`` run now, bypassing every output cache."""
    memory, progress = estimator.memory, estimator.progress
    estimator.set_params(memory=None, progress=False)
    try:
        getattr(estimator, method)(X[: min(len(X), 8)])  # warm-up
        return _best_seconds_per_input(lambda: getattr(estimator, method)(X), len(X))
    finally:
        estimator.set_params(memory=memory, progress=progress)


def _joint_wall_seconds(joint, X):
    """Seconds per input of joint prediction with every cache disabled."""
    models = (joint.swift_estimator_, joint.super_estimator_)
    memory = joint.memory
    params = [(m.memory, m.progress) for m in models]
    joint.set_params(memory=None)
    for model in models:
        model.set_params(memory=None, progress=False)
    try:
        return _best_seconds_per_input(lambda: joint.predict(X), len(X))
    finally:
        joint.set_params(memory=memory)
        for model, (model_memory, progress) in zip(models, params, strict=True):
            model.set_params(memory=model_memory, progress=progress)


class _Timings:
    """Measured timings kept in the data home, so that a rerun does not re-time.

    A timing is keyed by what determines it: the models' fingerprints, the
    routing threshold, the timed inputs and the number of repeats. ``retime``
    measures again and overwrites. Each timing keeps the date it was
    measured on; :meth:`source` says where the figures of a run come from.
    """

    def __init__(self, path, retime=False):
        self.path, self.retime = path, retime
        self.measured, self.reused = 0, []
        try:
            with open(path) as fh:
                self.values = json.load(fh)
        except (OSError, ValueError):
            self.values = {}

    def get(self, parts, measure):
        """The stored timing keyed by ``parts``, else ``measure()``, stored."""
        key = joblib.hash((parts, TIME_REPEATS))
        if self.retime or key not in self.values:
            self.values[key] = {
                "seconds": measure(),
                "measured_on": datetime.datetime.now().isoformat(timespec="seconds"),
            }
            self.measured += 1
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                json.dump(self.values, fh)
            os.replace(tmp, self.path)
            return self.values[key]["seconds"]
        value = self.values[key]
        if isinstance(value, dict):
            self.reused.append(value.get("measured_on"))
            return value["seconds"]
        self.reused.append(None)  # stored before the dates were
        return value

    def source(self):
        """Where the timings come from, for the report.

        Returns
        -------
        source : dict
            ``origin`` ("measured now", "reused" or "partly reused"),
            ``measured_on`` (the earliest date of the reused timings, or
            None) and ``cache`` (the file).
        """
        dates = sorted(d for d in self.reused if d)
        origin = "measured now"
        if self.reused:
            origin = "partly reused" if self.measured else "reused"
        return {
            "origin": origin,
            "measured_on": dates[0] if dates else None,
            "cache": self.path,
        }


def _timings_sentence(source):
    """The report's sentence saying where the time figures come from."""
    if source is None:
        return "Timings: where they come from was not recorded."
    if source["origin"] == "measured now":
        return "Timings: measured in this run."
    date = source["measured_on"] or "an earlier run (date not recorded)"
    what = "Some timings" if source["origin"] == "partly reused" else "Timings"
    return (
        f"{what} reused from `{source['cache']}`, measured on {date} "
        "(`elang-sk run --retime` measures them again)."
    )


def _timings_line(source, n_sample=None):
    """The progress line saying where the timings come from."""
    if source["origin"] == "measured now":
        if n_sample is None:
            return "timings measured now"
        return f"timings measured now (fresh forward passes of {n_sample} inputs)"
    date = source["measured_on"] or "an earlier run (date not recorded)"
    what = "some timings" if source["origin"] == "partly reused" else "timings"
    return f"reusing {what} measured on {date} (pass --retime to measure again)"


def run_protocol(
    *,
    dataset=DEFAULTS["dataset"],
    swift_model=DEFAULTS["swift"],
    super_model=DEFAULTS["super"],
    score=DEFAULTS["score"],
    threshold=DEFAULTS["threshold"],
    target=DEFAULTS["target"],
    tol=DEFAULTS["tol"],
    delta=DEFAULTS["delta"],
    distill=False,
    fine_tune_swift=False,
    device="auto",
    batch_size=32,
    max_length=128,
    time_sample=128,
    data_home=None,
    output=None,
    overwrite=False,
    plots=True,
    quiet=False,
    retime=False,
    calibration="dev",
    subsample=None,
):
    """Run the full E-LANG protocol on one dataset and one Swift/Super pair.

    Parameters
    ----------
    dataset : str, default="movie_snippets"
        A name of :data:`elang_sk.datasets.DATASETS`.
    swift_model, super_model : str, default="all-MiniLM-L6-v2", "all-mpnet-base-v2"
        A name of :data:`elang_sk.datasets.PRETRAINED_MODELS`, a hub id or a
        local folder. A name that is a path (it starts with ``/``, ``.`` or
        ``~``, or is not a ``namespace/name`` hub id) must be a folder with a
        ``config.json``: checked before anything runs.
    score : str, default="energy"
        The routing score of the main result.
    threshold : str or float, default="crossing"
        The :class:`ThresholdSelector` strategy, chosen on dev only
        (``"crossing"``, ``"swift_ratio"``, ``"budget"``, ``"match_super"``,
        ``"risk_control"``), or a fixed threshold (``-inf`` keeps every input
        with the Swift).
    target : float, default=None
        The target of ``"swift_ratio"`` (a fraction of inputs) and
        ``"budget"`` (mean FLOPs per input); both need it.
    tol : float, default=None
        Tolerance of ``"match_super"`` and ``"risk_control"``; None takes the
        strategy's default (:meth:`ThresholdSelector.effective_tol`).
    delta : float, default=0.1
        Risk level of ``"risk_control"``, also used by the ablation's
        risk-controlled rows.
    distill : bool, default=False
        Train the Swift's head on the Super's soft labels (paper Table 3).
    fine_tune_swift : bool, default=False
        Fine-tune the Swift's encoder with its head (2 epochs) instead of
        fitting a head on frozen features. Slow on a CPU, and the fine-tuned
        model is not cached: every run fine-tunes again.
    device : str, default="auto"
        Where the models run; CUDA or MPS that this torch cannot use is
        refused before anything runs.
    batch_size, max_length : int
        Inference settings of both models.
    time_sample : int, default=128
        Number of test inputs timed with fresh (uncached) forward passes; each
        timing is the best of ``TIME_REPEATS`` runs.
    data_home : str, default=None
        Data home for datasets, models and the output cache.
    output : str, default=None
        Folder for the JSON and Markdown reports and the plots; None writes
        nothing.
    overwrite : bool, default=False
        Whether ``output`` may hold a report of another configuration (other
        dataset, models or settings), which is then replaced. A report of the
        same configuration is replaced either way. Without it, such a folder
        is refused before anything runs.
    plots : bool, default=True
        Whether to draw the trade-off and score-distribution plots.
    quiet : bool, default=False
        Suppress progress messages.
    retime : bool, default=False
        Measure the timings again instead of reusing those stored in the data
        home by an earlier run with the same models and inputs. The report
        says which it did (``report["timings"]``).
    calibration : {"dev", "cross-fit"}, default="dev"
        The rows the risk-controlled thresholds are certified on: the dev
        split, or the dev split plus the out-of-fold predictions of heads
        cross-fitted (5 folds) on the train split. The latter needs heads on
        frozen features (not ``fine_tune_swift``) and a router on the Swift's
        logits. It is an approximation: the served heads are trained on the
        whole train split, and their scores are not exchangeable with the
        fold heads' (``benchmarks/bench_guarantee.py`` measures violations
        above ``delta`` this way; see ``docs/guarantees.rst``). Keep "dev"
        for a guarantee.
    subsample : int, default=None
        Use only the first ``subsample`` inputs of each split (the splits are
        shuffled already): a quick first try. None uses them all.

    Returns
    -------
    report : dict
        Everything written to ``report.json``.
    """
    configuration = {
        "dataset": dataset,
        "swift": swift_model,
        "super": super_model,
        "score": score,
        "threshold": threshold,
        "target": target,
        "tol": tol,
        "delta": delta,
        "distill": distill,
        "fine_tune_swift": fine_tune_swift,
        "max_length": max_length,
        "calibration": calibration,
        "subsample": subsample,
    }
    selector = _check_arguments(configuration, device, data_home, output, overwrite)
    from elang_sk.datasets import get_data_home

    started = time.perf_counter()
    home = get_data_home(data_home)
    cache = os.path.join(home, "cache")
    splits = _load_splits(dataset, data_home, subsample, quiet)
    (X_train, y_train), (X_dev, y_dev), (X_test, y_test) = (
        (splits[name].data, np.asarray(splits[name].target))
        for name in ("train", "dev", "test")
    )
    progress = _Progress(quiet)
    swift_clf, super_clf = _fit_pair(
        swift_model,
        super_model,
        X_train,
        y_train,
        home=home,
        distill=distill,
        fine_tune_swift=fine_tune_swift,
        quiet=quiet,
        progress=progress,
        task="encoder",
        device=device,
        batch_size=batch_size,
        max_length=max_length,
        memory=cache,
    )
    _say(f"joint model: calibrating {score} routing on dev", quiet)
    progress.split = "dev"
    joint = JointClassifier(
        swift_clf,
        super_clf,
        router=EnergyRouter(score_func=score),
        threshold=selector,
        costs="flops",
        memory=cache,
    ).fit(X_dev, y_dev)

    _say("evaluating on test", quiet)
    progress.split = "test"
    test = _Evaluation(swift_clf, super_clf, X_test, y_test, cache, time_sample, retime)
    label = _strategy_label(threshold, selector)
    main = test.evaluate(joint, f"E-LANG ({score}, {label})")
    main["threshold"] = joint.threshold_
    main.update(test.wall_time(joint))
    timings = test.timings.source()
    _say(_timings_line(timings, len(test.sample)), quiet)
    table1 = [
        test.row(
            "Swift",
            test.swift_correct,
            test.swift_flops.mean(),
            test.swift_seconds,
            1.0,
        ),
        test.row(
            "Super",
            test.super_correct,
            test.super_flops.mean(),
            test.super_seconds,
            0.0,
        ),
        main,
    ]

    cross_fit = None
    if calibration == "cross-fit":
        _say(f"cross-fitting {N_CROSS_FIT_FOLDS} heads per model on train", quiet)
        progress.split = "train (cross-fit)"
        cross_fit = _cross_fitted_rows(swift_clf, super_clf, X_train, y_train)
    progress.split = "test"
    ablation, gap_recovered = _ablation(
        joint, test, X_dev, y_dev, (selector, label), cross_fit, delta
    )
    ablation += test.oracles()

    # Restore the main configuration for the plots.
    joint.set_params(router=EnergyRouter(score_func=score), threshold=selector)
    joint.fit(X_dev, y_dev)

    report = {
        "dataset": dataset,
        "n_samples": {k: len(v.data) for k, v in splits.items()},
        "swift": swift_model,
        "super": super_model,
        "score": score,
        "threshold_strategy": label,
        "tol": selector.effective_tol() if _is_selector(selector) else None,
        "target": target,
        "delta": delta,
        "distill": distill,
        "fine_tune_swift": fine_tune_swift,
        "routing_method": joint.routing_method_,
        "table1": table1,
        "ablation": ablation,
        "gap_recovered": gap_recovered,
        "calibration": calibration,
        "configuration": configuration,
        "timings": timings,
        "versions": _versions(),
        "machine": _machine(swift_clf.device_),
        "time_sample": len(test.sample),
        "elapsed_seconds": time.perf_counter() - started,
    }
    if output is not None:
        _write_report(report, joint, X_test, y_test, output, plots, quiet)
    return report


def _is_selector(threshold):
    return isinstance(threshold, ThresholdSelector)


def _strategy_label(threshold, selector):
    """How a report names the main threshold: the strategy and its settings."""
    if not _is_selector(selector):
        return f"fixed {float(threshold):g}"
    strategy = label = selector.strategy
    if strategy in ("swift_ratio", "budget"):
        label += f" target={selector.target:g}"
    if strategy in ("match_super", "risk_control"):
        label += f" tol={selector.effective_tol():g}"
    if strategy == "risk_control":
        label += f" delta={selector.delta:g}"
    return label


def _check_arguments(configuration, device, data_home, output, overwrite):
    """Check every argument before any work; return the threshold of the run.

    Returns
    -------
    threshold : ThresholdSelector or float
        The selector of the strategy, or the fixed threshold.
    """
    _check_calibration(configuration["calibration"], configuration["fine_tune_swift"])
    if configuration["score"] not in SCORES:
        raise ValueError(
            f"score must be one of {', '.join(SCORES)}; got {configuration['score']!r}."
        )
    threshold = _threshold(configuration)
    for option, model in (
        ("--swift", configuration["swift"]),
        ("--super", configuration["super"]),
    ):
        check_model_name(model, option)
    _check_folder(data_home, "--data-home", "the data, model and cache folder")
    if output is not None:
        _check_folder(output, "--output", "the report folder")
        _check_output(output, configuration, overwrite)
    from elang_sk.hf._torch_utils import resolve_device

    resolve_device(device, name="--device")
    return threshold


def _threshold(configuration):
    """The ThresholdSelector of a strategy, checked, or a fixed threshold."""
    threshold = configuration["threshold"]
    if isinstance(threshold, str):
        return ThresholdSelector(
            threshold,
            target=configuration["target"],
            tol=configuration["tol"],
            delta=configuration["delta"],
        ).check_params()
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(
            f"threshold must be a strategy ({', '.join(THRESHOLD_STRATEGIES)}) or "
            f"a number; got {threshold!r}."
        )
    if np.isnan(threshold):
        raise ValueError("threshold=nan is no threshold: pass a number or a strategy.")
    return float(threshold)


# A hub id: "name" or "namespace/name", of letters, digits, "-", "_" and ".".
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def check_model_name(model, option="--swift"):
    """Refuse a model that names a folder which is not there, before any work.

    A zoo name or a hub id (``namespace/name``) is left to the loader; a
    name that is a path (it starts with ``/``, ``.`` or ``~``, holds a
    backslash or more than one ``/``) or that exists on disk must be a folder
    with a ``config.json``.

    Parameters
    ----------
    model : str or path-like
        The model as given.
    option : str, default="--swift"
        The option that gave it, for the message.

    Raises
    ------
    FileNotFoundError
        If ``model`` is a path to nothing.
    ValueError
        If ``model`` is a file, or a folder without ``config.json``.

    Examples
    --------
    >>> from elang_sk._protocol import check_model_name
    >>> check_model_name("sentence-transformers/all-MiniLM-L6-v2")  # a hub id
    >>> check_model_name("./no-such-model")
    Traceback (most recent call last):
    ...
    FileNotFoundError: --swift './no-such-model': no such folder. ...
    """
    from elang_sk.datasets import PRETRAINED_MODELS

    name = os.fspath(model)
    if name in PRETRAINED_MODELS:
        return
    path = os.path.expanduser(name)
    looks_like_path = (
        name.startswith((".", "~", os.sep, "/"))
        or "\\" in name
        or not _HUB_ID.fullmatch(name)
    )
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(
                f"{option} {name!r} is a folder without config.json: not a saved "
                "transformers model. Pass the folder that save_pretrained wrote, "
                "a hub id (namespace/name) or a model from `elang-sk list`."
            )
        return
    if os.path.exists(path):
        raise ValueError(
            f"{option} {name!r} is a file, not a model folder. Pass the folder "
            "that save_pretrained wrote, a hub id (namespace/name) or a model "
            "from `elang-sk list`."
        )
    if looks_like_path:
        raise FileNotFoundError(
            f"{option} {name!r}: no such folder. Pass an existing model folder, "
            "a hub id (namespace/name) or a model from `elang-sk list` "
            f"({', '.join(sorted(PRETRAINED_MODELS))})."
        )


def _check_folder(folder, option, what):
    """Refuse ``folder`` if it is a file, or cannot be created or written."""
    if folder is None:
        return
    path = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(
            f"{option} {os.fspath(folder)!r} is a file; {what} must be a folder. "
            "Pass another path."
        )
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(
            f"{option} {os.fspath(folder)!r}: {existing!r} is a file, so {what} "
            "cannot be created there. Pass another path."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{option} {os.fspath(folder)!r}: {existing!r} is not writable, so "
            f"{what} cannot be written there. Pass a folder you can write to."
        )


def _check_output(output, configuration, overwrite):
    """Refuse an output folder that holds the report of another configuration."""
    path = os.path.join(os.path.expanduser(os.fspath(output)), "report.json")
    if overwrite or not os.path.exists(path):
        return
    try:
        with open(path) as fh:
            previous = json.load(fh)
        stored = previous.get("configuration")
        if stored is None:  # written before the configuration was stored
            keys = ("dataset", "swift", "super")
            stored = {k: previous[k] for k in keys if k in previous}
    except (OSError, ValueError, AttributeError):
        stored = {"report.json": "unreadable"}
    wanted = json.loads(json.dumps(configuration))
    different = sorted(k for k in stored if stored[k] != wanted.get(k))
    if different:
        shown = "; ".join(
            f"{k} {stored[k]!r} there, {wanted.get(k)!r} now" for k in different
        )
        raise FileExistsError(
            f"--output {os.fspath(output)!r} holds the report of another run "
            f"({shown}). Pass another --output, or --overwrite to replace it."
        )


def _check_calibration(calibration, fine_tune_swift):
    if calibration not in CALIBRATIONS:
        raise ValueError(
            f"calibration must be one of {CALIBRATIONS}; got {calibration!r}."
        )
    if calibration == "cross-fit" and fine_tune_swift:
        raise ValueError(
            "calibration='cross-fit' reuses out-of-fold predictions of heads on "
            "cached features; a fine-tuned Swift has none. Use calibration='dev' "
            "with fine_tune_swift=True."
        )


def _load_splits(dataset, data_home, subsample, quiet):
    """The train, dev and test splits of a dataset, optionally subsampled."""
    from elang_sk.datasets import load_dataset

    splits = {
        name: load_dataset(dataset, subset=name, data_home=data_home)
        for name in ("train", "dev", "test")
    }
    if subsample is not None:
        for split in splits.values():
            split.data = split.data[:subsample]
            split.target = split.target[:subsample]
    sizes = ", ".join(f"{len(splits[k].data)} {k}" for k in ("train", "dev", "test"))
    _say(f"{dataset}: {sizes}", quiet)
    return splits


def _fit_pair(
    swift_model,
    super_model,
    X,
    y,
    *,
    home,
    distill,
    fine_tune_swift,
    quiet,
    progress,
    **common,
):
    """The Super and the Swift TransformerClassifier, fitted on train."""
    from elang_sk.hf._transformers import TransformerClassifier

    progress.split = "train features"
    _say(f"Super {super_model}: fitting on train", quiet)
    super_clf = TransformerClassifier(
        _resolve_model(super_model, home),
        progress=progress.for_model(f"Super {_short(super_model)}"),
        **common,
    )
    super_clf.fit(X, y)
    _say(f"Swift {swift_model}: fitting on train", quiet)
    progress.split = "train (fine-tuning)" if fine_tune_swift else "train features"
    swift_clf = TransformerClassifier(
        _resolve_model(swift_model, home),
        distill_from=super_clf if distill else None,
        fine_tune=fine_tune_swift,
        epochs=2,
        progress=progress.for_model(f"Swift {_short(swift_model)}"),
        **common,
    )
    swift_clf.fit(X, y)
    return swift_clf, super_clf


def _short(model):
    """A model's name for the progress lines: the last part of a path or id."""
    return os.path.basename(os.path.normpath(os.fspath(model))) or os.fspath(model)


class _Evaluation:
    """The test split, each model alone on it, and how a table row is made."""

    def __init__(self, swift_clf, super_clf, X, y, cache, time_sample, retime):
        self.X, self.y = X, y
        self.swift_correct = swift_clf.predict(X) == y
        self.super_correct = super_clf.predict(X) == y
        self.swift_flops = swift_clf.estimate_flops(X).astype(float)
        self.super_flops = super_clf.estimate_flops(X).astype(float)
        self.sample = list(X[: min(time_sample, len(X))])
        self.timings = _Timings(os.path.join(cache, "timings.json"), retime=retime)
        self.sample_key = hash_inputs(self.sample).tobytes()
        self.swift_seconds, self.super_seconds = (
            self.timings.get(
                ("predict", clf.elang_fingerprint(), self.sample_key),
                lambda clf=clf: _fresh_seconds_per_input(clf, "predict", self.sample),
            )
            for clf in (swift_clf, super_clf)
        )
        self.resamples = np.random.default_rng(0).integers(
            0, len(y), size=(N_BOOTSTRAP, len(y))
        )

    def row(self, name, correct, flops, seconds, ratio):
        """One table row: accuracy with bootstrap intervals, costs, speed-ups."""
        correct = np.asarray(correct, dtype=float)
        accuracy = correct[self.resamples].mean(axis=1)
        delta = (correct - self.super_correct)[self.resamples].mean(axis=1)
        return {
            "model": name,
            "accuracy": float(correct.mean()),
            "accuracy_ci95": np.percentile(accuracy, [2.5, 97.5]).tolist(),
            "delta_vs_super_ci95": np.percentile(delta, [2.5, 97.5]).tolist(),
            "gflops_per_input": float(flops) / 1e9,
            "ms_per_input": 1000 * float(seconds),
            "swift_ratio": None if ratio is None else float(ratio),
            "flops_speedup": float(self.super_flops.mean() / flops),
            "time_speedup": float(self.super_seconds / seconds),
        }

    def evaluate(self, joint, name):
        """The row of a fitted joint model on the test split."""
        report = joint.routing_report(self.X, self.y)
        kept = report.served_by == "swift"
        seconds = joint_cost(kept, self.swift_seconds, self.super_seconds)
        correct = report.y_pred == self.y
        return self.row(
            name, correct, report.cost_per_input, seconds, report.swift_ratio
        )

    def wall_time(self, joint):
        """The joint model's measured wall time per input on the timing sample."""
        wall = self.timings.get(
            (
                "joint",
                joint.swift_estimator_.elang_fingerprint(),
                joint.super_estimator_.elang_fingerprint(),
                repr(joint.router_),
                joint.threshold_,
                self.sample_key,
            ),
            lambda: _joint_wall_seconds(joint, self.sample),
        )
        return {
            "wall_ms_per_input": 1000 * wall,
            "wall_time_speedup": self.super_seconds / wall,
        }

    def oracles(self):
        """The two oracle rows: fewest Super calls, and best accuracy."""
        rows = []
        # The oracle as routing papers define it: the fewest Super calls that
        # reach the Super's accuracy (Super right and Swift wrong go first).
        fewest_keep = ~oracle_super_calls(self.swift_correct, self.super_correct).sent
        # The most accurate oracle: every input served by a model that is
        # right on it, with the Swift wherever it is right.
        for keep, correct, strategy in (
            (
                fewest_keep,
                np.where(fewest_keep, self.swift_correct, self.super_correct),
                "fewest Super calls at the Super's accuracy",
            ),
            (
                self.swift_correct,
                self.swift_correct | self.super_correct,
                "best accuracy: the Swift wherever it is right",
            ),
        ):
            oracle = self.row(
                "oracle",
                correct,
                joint_cost(keep, self.swift_flops, self.super_flops),
                joint_cost(keep, self.swift_seconds, self.super_seconds),
                keep.mean(),
            )
            oracle["strategy"] = strategy
            rows.append(oracle)
        return rows


def _ablation(joint, test, X_dev, y_dev, main, cross_fit, delta):
    """Every score under every threshold strategy, each chosen on dev.

    ``main`` is the run's ``(threshold, label)``: a ThresholdSelector or a
    fixed threshold, first in every score's rows.
    """
    ablation, gap_recovered = [], []
    strategies = [main] + [
        (ThresholdSelector(strategy, tol=tol, delta=delta), None)
        for strategy, tol in ABLATION_STRATEGIES
    ]
    for name in ABLATION_SCORES:
        for k, (strategy_selector, label) in enumerate(strategies):
            risk = (
                _is_selector(strategy_selector)
                and strategy_selector.strategy == "risk_control"
            )
            joint.set_params(
                router=EnergyRouter(score_func=name), threshold=strategy_selector
            )
            with warnings.catch_warnings():
                # Reported in the table (certified = False) instead.
                warnings.simplefilter("ignore", CertificationWarning)
                joint.fit(X_dev, y_dev)
                selection = joint.threshold_selection_
                if risk and cross_fit is not None:
                    selection = _cross_fit_selection(
                        joint, strategy_selector, cross_fit
                    )
                    joint.set_params(threshold=selection.threshold)
            if k == 0:
                gap_recovered.append(
                    _gap_recovered(
                        name,
                        joint.routing_scores(test.X),
                        test.swift_correct,
                        test.super_correct,
                    )
                )
            if label is None:
                label = _strategy_label(None, strategy_selector)
            entry = test.evaluate(joint, name)
            entry.update(strategy=label, threshold=joint.threshold_)
            if risk:
                entry.update(
                    certified=selection.certified,
                    loss_bound=selection.loss_bound,
                    n_calibration=selection.n_calibration,
                )
            ablation.append(entry)
    return ablation, gap_recovered


def _write_report(report, joint, X_test, y_test, output, plots, quiet):
    """report.json, report.md and the plots in ``output``."""
    os.makedirs(output, exist_ok=True)
    if plots:
        report["plots"] = _plots(joint, X_test, y_test, output)
    with open(os.path.join(output, "report.json"), "w") as fh:
        json.dump(report, fh, indent=2)
    with open(os.path.join(output, "report.md"), "w") as fh:
        fh.write(format_markdown(report))
    written = ["report.json", "report.md"]
    written += [os.path.basename(path) for path in report.get("plots", {}).values()]
    _say(f"wrote {', '.join(written)} in {output}", quiet)


def _cross_fitted_rows(swift_clf, super_clf, X_train, y_train):
    """Out-of-fold outputs of both models' heads on the train split.

    Each fold's heads are clones fitted on the other folds (the features come
    from the cache), so every train input gets predictions from heads that
    never saw it, made by the same procedure as the served heads.
    """
    folds = StratifiedKFold(N_CROSS_FIT_FOLDS, shuffle=True, random_state=0)
    rows = {}
    for role, clf in (("swift", swift_clf), ("super", super_clf)):
        logits = np.empty((len(X_train), len(clf.classes_)))
        correct = np.empty(len(X_train), dtype=bool)
        for fit_rows, held_out in folds.split(X_train, y_train):
            fold = clone(clf).fit([X_train[i] for i in fit_rows], y_train[fit_rows])
            held = [X_train[i] for i in held_out]
            out = fold.predict_logits(held)
            correct[held_out] = fold.classes_[out.argmax(axis=1)] == y_train[held_out]
            if role == "swift":
                columns = np.searchsorted(clf.classes_, fold.classes_)
                logits[held_out] = -np.inf
                logits[np.ix_(held_out, columns)] = out
        rows[f"{role}_correct"] = correct
        rows[f"{role}_flops"] = clf.estimate_flops(X_train).astype(float)
        if role == "swift":
            rows["swift_logits"] = logits
    return rows


def _cross_fit_selection(joint, selector, rows):
    """``selector`` on the dev calibration plus the cross-fitted train rows."""
    # None: a random score, which reads no model output.
    if joint.routing_method_ not in ("predict_logits", None) or joint.router_.head_:
        raise ValueError(
            "calibration='cross-fit' scores the out-of-fold Swift logits with the "
            f"router; this router reads {joint.routing_method_!r} through a head. "
            "Use calibration='dev'."
        )
    cal = joint.calibration_
    return selector.select(
        np.r_[joint.router_.score_samples(rows["swift_logits"]), cal.scores],
        np.r_[rows["swift_correct"], cal.swift_quality > 0.5],
        np.r_[rows["super_correct"], cal.super_quality > 0.5],
        swift_cost=np.r_[rows["swift_flops"], cal.swift_cost],
        super_cost=np.r_[rows["super_flops"], cal.super_cost],
        router_cost=np.r_[rows["swift_flops"], cal.router_cost],
    )


def _gap_recovered(score, scores, swift_correct, super_correct):
    """RouteLLM's APGR and CPT(50%), CPT(80%) of one score on test."""
    entry = {"score": score, "apgr": None, "calls_for_50": None, "calls_for_80": None}
    if super_correct.mean() > swift_correct.mean():
        result = performance_gap_recovered(scores, swift_correct, super_correct)
        entry.update(
            apgr=result.apgr,
            calls_for_50=float(result.cpt[0]),
            calls_for_80=float(result.cpt[1]),
        )
    return entry


def _plots(joint, X, y, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from elang_sk._plotting import ScoreDistributionDisplay, TradeoffDisplay

    paths = {}
    display = TradeoffDisplay.from_estimator(joint, X, y, scores=ABLATION_SCORES)
    display.ax_.set_title("Accuracy vs FLOPs on test (one point per threshold)")
    paths["tradeoff"] = os.path.join(output, "tradeoff.png")
    display.figure_.savefig(paths["tradeoff"], dpi=120, bbox_inches="tight")
    plt.close(display.figure_)
    display = ScoreDistributionDisplay.from_estimator(joint, X, y)
    paths["scores"] = os.path.join(output, "score_distribution.png")
    display.figure_.savefig(paths["scores"], dpi=120, bbox_inches="tight")
    plt.close(display.figure_)
    return paths


def _acc(row):
    lo, hi = row["accuracy_ci95"]
    return f"{row['accuracy']:.4f} [{lo:.3f}, {hi:.3f}]"


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_markdown(report):
    """Render a protocol report as Markdown tables.

    Parameters
    ----------
    report : dict
        The result of :func:`run_protocol`.

    Returns
    -------
    text : str
    """
    lines = [
        f"# E-LANG on {report['dataset']}",
        "",
        f"Swift `{report['swift']}`, Super `{report['super']}`; routing score "
        f"`{report['score']}` read from `{report['routing_method']}`, threshold "
        f"strategy `{report['threshold_strategy']}` chosen on dev; all numbers on "
        f"the test split ({report['n_samples']['test']} inputs).",
        "",
        "| model | accuracy [95% CI] | GFLOPs/input | ms/input | Swift ratio | "
        "FLOPs speed-up | time speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["table1"]:
        lines.append(
            f"| {r['model']} | {_acc(r)} | {r['gflops_per_input']:.3f} | "
            f"{r['ms_per_input']:.2f} | {_fmt(r['swift_ratio'], '.2f')} | "
            f"{r['flops_speedup']:.2f}x | {r['time_speedup']:.2f}x |"
        )
    main = report["table1"][-1]
    lines += [
        "",
        f"Measured end-to-end wall time of joint prediction (no caches, "
        f"{report['time_sample']} inputs): {main['wall_ms_per_input']:.2f} ms/input,"
        f" {main['wall_time_speedup']:.2f}x faster than the Super.",
        "",
        "## Routing ablation (threshold chosen on dev, evaluated on test)",
        "",
        "| score | strategy | accuracy [95% CI] | minus Super [95% CI] | "
        "GFLOPs/input | Swift ratio | FLOPs speed-up | time speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["ablation"]:
        lo, hi = r["delta_vs_super_ci95"]
        strategy = r["strategy"]
        if r.get("certified") is False:
            strategy += " (nothing certified: all Super)"
        lines.append(
            f"| {r['model']} | {strategy} | {_acc(r)} | "
            f"{r['accuracy'] - report['table1'][1]['accuracy']:+.4f} "
            f"[{lo:+.4f}, {hi:+.4f}] | "
            f"{r['gflops_per_input']:.3f} | {_fmt(r['swift_ratio'], '.2f')} | "
            f"{r['flops_speedup']:.2f}x | {r['time_speedup']:.2f}x |"
        )
    if report.get("gap_recovered"):
        lines += [
            "",
            "`risk_control` rows: the loss against the Super is at most `tol` with "
            f"probability {1 - report.get('delta', RISK_DELTA):g} over the "
            "calibration sample "
            + (
                "(dev rows)"
                if report.get("calibration", "dev") == "dev"
                else "(dev plus out-of-fold train rows: an approximation for the "
                "final heads, not a guarantee; see docs/guarantees.rst)"
            )
            + "; `oracle` rows know both models' answers.",
            "",
            "## Gap recovered (RouteLLM's metrics, test split)",
            "",
            "APGR: mean fraction of the Swift-Super accuracy gap recovered over "
            "all Super-call fractions (0.5 for random routing); then the fraction "
            "of inputs sent to the Super to recover 50% and 80% of the gap.",
            "",
            "| score | APGR | Super calls for 50% | Super calls for 80% |",
            "|---|---|---|---|",
        ]
        for r in report["gap_recovered"]:
            lines.append(
                f"| {r['score']} | {_fmt(r['apgr'], '.3f')} | "
                f"{_fmt(r['calls_for_50'], '.3f')} | {_fmt(r['calls_for_80'], '.3f')} |"
            )
    machine, versions = report["machine"], report["versions"]
    lines += ["", _timings_sentence(report.get("timings"))]
    lines += [
        "",
        f"Machine: {machine['platform']}, {machine['cpu_count']} CPUs, device "
        f"{machine['device']}; torch {versions['torch']}, transformers "
        f"{versions['transformers']}, scikit-learn {versions['scikit-learn']}.",
        "",
    ]
    return "\n".join(lines)
