"""Joint inference at scale on Ray Data: one actor pool per stage, streaming.

:func:`predict_dataset` runs a fitted joint model over a
:class:`ray.data.Dataset` as one ``map_batches`` stage per model, each with
its own pool of actors (a callable class that loads the model once per
worker), its own batch size, concurrency and resources. The stages are
chained, with nothing in between that waits for the whole dataset, so Ray
Data's streaming executor runs them at the same time, block by block:

1. **Swift stage** (every row): routing score, the routing decision at the
   call's ``threshold``, and the Swift's answer on the rows it keeps; the
   others are marked ``served_by="pending"``.
2. **Super stage** (the same blocks, as the Swift emits them): the Super's
   answer on the pending rows; the rows the Swift answered pass through
   untouched. A :class:`~elang_sk.CascadeClassifier` has a stage per model:
   each answers the pending rows it keeps and passes the rest on.

Every stage calls the joint model's public
:meth:`~elang_sk.JointClassifier.route_stage`. Ray Data's ``preserve_order``
keeps the blocks in input order, so no sort is needed. ray is imported only
when :func:`predict_dataset` runs; the stages also run without Ray, on pandas
frames, for inputs that fit one process (:func:`predict_frame`, the
``elang-sk predict`` command).
"""

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from elang_sk._validation import check_batch_size, check_row_ids, check_threshold_value

ROW_ID = "row_id"
_OUTPUT_COLUMNS = ("prediction", "served_by", "routing_score", "error")
_READERS = {
    ".parquet": "read_parquet",
    ".pq": "read_parquet",
    ".jsonl": "read_json",
    ".json": "read_json",
    ".csv": "read_csv",
    ".txt": "read_text",
}


class BadRowsError(ValueError):
    """Some rows could not be predicted; the others were.

    Raised by :func:`predict_dataset` with ``on_error="raise"`` after the
    whole dataset has run. ``dataset`` holds every row's result: predictions
    for the good rows, and for the bad rows ``served_by="error"`` and the
    message in the ``error`` column.

    Attributes
    ----------
    dataset : ray.data.Dataset or pandas.DataFrame
        The full result, as with ``on_error="record"``.
    n_bad : int
        Number of rows that failed.

    Examples
    --------
    >>> from elang_sk.distributed import BadRowsError
    >>> err = BadRowsError("1 row failed", dataset=None, n_bad=1)
    >>> err.n_bad
    1
    """

    def __init__(self, message, dataset, n_bad):
        super().__init__(message)
        self.dataset = dataset
        self.n_bad = n_bad


def _load(model):
    """The joint model of a worker: loaded from a folder, or the object given."""
    if isinstance(model, str | os.PathLike):
        from elang_sk._persist import load_joint

        return load_joint(model)
    return model


def _has_proba(joint):
    return hasattr(joint, "predict_proba")


def _predicts_argmax(model):
    """Whether ``model`` predicts the class of its largest probability.

    True for a :class:`~elang_sk.TransformerClassifier` (its ``predict`` is
    the argmax of the logits its ``predict_proba`` takes the softmax of: the
    same class wherever the largest probability is unique). Other models may
    predict otherwise (an SVC's Platt probabilities, a threshold moved by a
    wrapper): they are asked for both.
    """
    module = sys.modules.get("elang_sk.hf._transformers")  # loaded if in use
    return module is not None and isinstance(model, module.TransformerClassifier)


def _stage_thresholds(joint, threshold):
    """The thresholds of a call: the model's, or ``threshold`` (one or a list)."""
    thresholds = joint.thresholds_
    if threshold is None:
        return thresholds
    values = threshold if isinstance(threshold, list | tuple) else [threshold]
    values = [check_threshold_value(value) for value in values]
    if len(values) != thresholds.size:
        raise ValueError(
            f"threshold has {len(values)} values for the {thresholds.size} routed "
            f"stages of this {type(joint).__name__}: give one number per stage "
            "but the last (a list for a cascade)."
        )
    return np.array(values)


def _row_errors(check, texts, ids):
    """Run ``check`` on each row alone; ``{row index: message}`` of the failures."""
    errors = {}
    for i, text in enumerate(texts):
        try:
            check([text])
        except Exception as exc:  # any failure of the row alone
            errors[i] = f"row {_item(ids[i])!r}: {type(exc).__name__}: {exc}"
    return errors


def _guarded(compute, texts, ids):
    """``compute(texts)``; on failure, find the failing rows and skip them.

    Returns the output on the good rows, their positions and the errors.
    """
    try:
        return compute(texts), np.arange(len(texts)), {}
    except Exception:  # the failing rows are found below
        errors = _row_errors(compute, texts, ids)
        good = np.array([i for i in range(len(texts)) if i not in errors], np.intp)
        if not errors:  # the batch fails as a whole: not a row's fault
            raise
        if good.size == 0:
            return None, good, errors
        return compute([texts[i] for i in good]), good, errors


#: ``served_by`` of a row that a stage passed on to the next one.
PENDING = "pending"


class _Stage:
    """Ray Data callable class of one stage (one model per worker).

    Every stage gets every row. The first stage answers all rows with a text;
    a later stage answers only the rows the stages before it passed on
    (``served_by == "pending"``) and passes the others through untouched. A
    stage scores its rows (all but the last), keeps those with
    ``score >= threshold`` and answers them, through the joint model's public
    :meth:`route_stage`, ``batch_size`` rows per call at most.

    Parameters
    ----------
    model : joint model or path-like
        A fitted joint model, or a folder written by :func:`save_joint`.
    stage : int
        The stage's index.
    thresholds : ndarray or None
        The call's thresholds; None uses the model's ``thresholds_``.
    text_column : str
        Column of the inputs.
    batch_size : int or None, default=None
        Most rows per model call; None: all the rows of a batch in one call.
    timeline : str or None, default=None
        A folder: each batch appends a line to ``stage<k>-<pid>.jsonl`` there.
    """

    def __init__(
        self, model, stage, thresholds, text_column, batch_size=None, timeline=None
    ):
        self.joint = _load(model)
        self.stage = stage
        names = self.joint.stage_names_
        self.name = names[stage]
        self.last = stage == len(names) - 1
        if thresholds is None:
            thresholds = self.joint.thresholds_
        self.threshold = None if self.last else float(thresholds[stage])
        self.text_column = text_column
        self.batch_size = batch_size
        self.timeline = timeline
        self.proba = _has_proba(self.joint)
        self.n_classes = len(self.joint.classes_) if self.proba else 0
        # The last stage's answers are its model's own predict and
        # predict_proba: two forwards of the costliest model, unless the
        # labels can be read off the probabilities.
        self.argmax = (
            self.proba and self.last and _predicts_argmax(self.joint.estimators_[stage])
        )

    def _run(self, texts):
        if self.argmax:
            return self._run_once(texts)
        methods = ("predict", "predict_proba") if self.proba else ("predict",)
        return self.joint.route_stage(
            texts, self.stage, method=methods, threshold=self.threshold
        )

    def _run_once(self, texts):
        """:meth:`_run` with one forward: the labels are the probabilities'
        argmax (exactly the model's ``predict`` where the largest probability
        is unique; rows with a tie ask ``predict``)."""
        step = self.joint.route_stage(
            texts, self.stage, method=("predict_proba",), threshold=self.threshold
        )
        proba = step.answers["predict_proba"]
        if proba is None:
            step.answers["predict"] = None
            return step
        proba = np.asarray(proba)
        top = np.argmax(proba, axis=1)
        pred = np.asarray(self.joint.classes_)[top]
        if proba.shape[1] > 1:
            second = np.sort(proba, axis=1)[:, -2]
            tie = np.flatnonzero(proba[np.arange(len(top)), top] <= second)
            if tie.size:
                kept = np.flatnonzero(step.keep)[tie]
                pred = pred.astype(object)
                pred[tie] = self.joint.answer_stage(
                    [texts[i] for i in kept], self.stage, "predict"
                )
        step.answers["predict"] = pred
        return step

    def __call__(self, batch):
        start = time.time()
        out, computed = self._answer(batch)
        if self.timeline is not None:
            self._record(start, len(batch), computed)
        return out

    def _record(self, start, rows, computed):
        line = {
            "stage": self.stage,
            "name": self.name,
            "pid": os.getpid(),
            "start": start,
            "end": time.time(),
            "rows": int(rows),
            "computed": int(computed),
        }
        folder = Path(self.timeline)
        try:  # a diagnostic: a folder this node cannot write loses no row
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"stage{self.stage}-{os.getpid()}.jsonl"
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        except OSError:
            pass

    def _answer(self, batch):
        """The batch with this stage's outputs, and how many rows it computed."""
        texts = list(batch[self.text_column])
        ids = batch[ROW_ID].to_numpy()
        if self.stage == 0:
            out = _empty_outputs(len(texts), self.n_classes if self.proba else None)
            present = np.array(
                [i for i, t in enumerate(texts) if not _missing(t)], np.intp
            )
            for i in np.setdiff1d(np.arange(len(texts)), present):
                out["error"][i] = (
                    f"row {_item(ids[i])!r}: ValueError: the text is empty or "
                    "missing (an empty cell or a blank line): there is nothing to "
                    "predict. Fill it in, or drop the row."
                )
                out["served_by"][i] = "error"
        else:
            out = {
                name: _object_array(batch[name])
                for name in _OUTPUT_COLUMNS + (("probabilities",) if self.proba else ())
            }
            out["routing_score"] = batch["routing_score"].to_numpy(
                np.float64, copy=True
            )
            if self.proba:  # Ray may hand the lists over as a tensor column
                out["probabilities"] = _object_array(
                    [np.asarray(p, np.float64).tolist() for p in batch["probabilities"]]
                )
            present = np.flatnonzero(out["served_by"] == PENDING)
        size = self.batch_size or max(len(present), 1)
        for begin in range(0, len(present), size):
            self._answer_rows(out, texts, ids, present[begin : begin + size])
        return _with_outputs(batch, out), len(present)

    def _answer_rows(self, out, texts, ids, rows):
        """Write this stage's answer on ``rows`` (positions in the batch) to ``out``."""
        step, good, errors = _guarded(self._run, [texts[i] for i in rows], ids[rows])
        good = rows[good]
        for i, message in errors.items():
            out["error"][rows[i]] = message
            out["served_by"][rows[i]] = "error"
        if step is None:
            return
        if step.scores is not None:
            out["routing_score"][good] = step.scores
        out["served_by"][good] = np.where(step.keep, self.name, PENDING)
        kept = good[step.keep]
        if kept.size:
            pred = step.answers["predict"]
            proba = step.answers.get("predict_proba")
            for j, row in enumerate(kept):
                out["prediction"][row] = _item(pred[j])
                if self.proba:
                    values = np.asarray(proba[j], np.float64)
                    out["probabilities"][row] = values.tolist()


def _missing(text):
    """Whether an input cell is missing: None, NaN or a blank text."""
    if text is None:
        return True
    if isinstance(text, str):
        return not text.strip()
    return isinstance(text, float) and np.isnan(text)


def _object_array(values):
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _item(value):
    return value.item() if isinstance(value, np.generic) else value


def _empty_outputs(n, n_classes):
    """The output columns of ``n`` rows before any stage answered them.

    With ``n_classes``, ``probabilities`` holds a list of NaN per row until a
    stage answers it: every row then has a list of the same length, which
    Ray converts to one tensor column in every block (a mix of None and
    lists would not concatenate across blocks).
    """
    out = {
        "prediction": np.full(n, None, dtype=object),
        "served_by": np.full(n, None, dtype=object),
        "routing_score": np.full(n, np.nan),
        "error": np.full(n, None, dtype=object),
    }
    if n_classes:
        out["probabilities"] = _object_array([[np.nan] * n_classes] * n)
    return out


def _with_outputs(batch, out):
    import pandas as pd

    batch = batch.copy()
    for name, values in out.items():
        batch[name] = pd.Series(values, index=batch.index, dtype=values.dtype)
    return batch


def _count_bad(block):
    """The number of bad rows of an output block, and the first messages."""
    from ray.data.block import BlockAccessor

    errors = BlockAccessor.for_block(block).to_pandas()["error"]
    bad = errors[errors.notna()]
    return len(bad), bad.head(3).tolist()


def _check_options(on_error, text_column):
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record'; got {on_error!r}.")
    if not isinstance(text_column, str):
        raise TypeError(
            f"text_column must be a column name (str); got {text_column!r}."
        )


def _check_columns(columns, text_column):
    if text_column not in columns:
        raise ValueError(
            f"The input has no column {text_column!r} (its columns: {list(columns)}). "
            "Pass text_column= the name of the column that holds the inputs."
        )
    taken = sorted(set(columns) & set(_OUTPUT_COLUMNS + ("probabilities",)))
    if taken:
        raise ValueError(
            f"The input already has the output column(s) {taken}; rename or drop "
            "them first."
        )


def _read(path):
    import ray.data

    suffix = Path(path).suffix.lower()
    if Path(path).is_dir():
        return ray.data.read_parquet(os.fspath(path))
    if suffix not in _READERS:
        raise ValueError(
            f"Cannot read {os.fspath(path)!r}: unknown file type {suffix!r}. Give "
            f"a file ending in one of {sorted(_READERS)}, a folder of Parquet "
            "files, or a ray.data.Dataset."
        )
    reader = getattr(ray.data, _READERS[suffix])
    if suffix in (".jsonl", ".json"):
        return reader(os.fspath(path), lines=suffix == ".jsonl")
    return reader(os.fspath(path))


def _describe(table, has_ids):
    """A block's size, or its ``row_id`` column when the input has one."""
    if has_ids:
        return table.column(ROW_ID).to_numpy(zero_copy_only=False)
    return table.num_rows


def _numbered(offset, pieces, *tables):
    """``tables`` as one, numbered from ``offset`` (None: keep its ids), in
    ``pieces`` blocks of about equal size."""
    import pyarrow as pa

    table = pa.concat_tables(tables, promote_options="permissive")
    if offset is not None:
        ids = pa.array(np.arange(offset, offset + table.num_rows, dtype=np.int64))
        table = table.append_column(ROW_ID, ids)
    if pieces == 1:
        return table
    bounds = np.linspace(0, table.num_rows, pieces + 1).astype(int)
    return tuple(
        table.slice(lo, hi - lo) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    )


def _with_row_ids(ds, rows_per_block):
    """``ds`` in blocks of ``rows_per_block`` rows, with ``row_id``; and whether
    the output must be sorted by it.

    The input's blocks are read in order (``preserve_order``): this reads the
    input once, before any stage starts. Each block is counted and numbered
    from its offset (unless the input has a ``row_id`` column, which is
    checked instead), and the blocks are regrouped into blocks of about
    ``rows_per_block`` rows (many tiny blocks make every step slow, one big
    block would feed one worker only). The dataset returned has its own
    context, with ``preserve_order`` on: the stages keep the order of these
    blocks, so the output needs no sort, except when given row ids are not
    in increasing order (the output is sorted by ``row_id``).
    """
    import pandas as pd
    import ray
    import ray.data

    has_ids = ROW_ID in ds.columns()
    options = ds.context.execution_options
    before, options.preserve_order = options.preserve_order, True
    try:
        tables = ds.to_arrow_refs()
    finally:
        options.preserve_order = before
    describe = ray.remote(_describe)
    described = ray.get([describe.remote(t, has_ids) for t in tables])
    sizes = [len(d) for d in described] if has_ids else described
    if sum(sizes) == 0:
        raise ValueError("The dataset is empty: at least one input is needed.")
    unsorted = False
    if has_ids:
        ids = pd.Series(np.concatenate(described))
        check_row_ids(ids)
        unsorted = not ids.is_monotonic_increasing
    numbered = ray.remote(_numbered)
    blocks, group, offset, rows = [], [], 0, 0

    def close_group():
        pieces = max(1, round(rows / rows_per_block))
        refs = numbered.options(num_returns=pieces).remote(
            None if has_ids else offset, pieces, *group
        )
        blocks.extend([refs] if pieces == 1 else refs)

    for table, size in zip(tables, sizes, strict=True):
        if not size:
            continue
        group.append(table)
        rows += size
        if rows >= rows_per_block:
            close_group()
            group, offset, rows = [], offset + rows, 0
    if group:
        close_group()
    ds = ray.data.from_arrow_refs(blocks)
    ds.context.execution_options.preserve_order = True
    return ds, unsorted


def _pool(concurrency):
    import ray.data

    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(
            min_size=concurrency[0], max_size=concurrency[1]
        )
    return ray.data.ActorPoolStrategy(size=concurrency)


def _bad_rows_error(n_bad, examples, result):
    shown = "; ".join(examples)
    more = f" (and {n_bad - len(examples)} more)" if n_bad > len(examples) else ""
    return BadRowsError(
        f"{n_bad} row(s) could not be predicted: {shown}{more}. The other rows "
        "were predicted: the full result is this error's .dataset (bad rows have "
        "served_by='error'); pass on_error='record' to get it returned.",
        dataset=result,
        n_bad=n_bad,
    )


def predict_dataset(
    joint,
    dataset,
    *,
    threshold=None,
    text_column="text",
    swift_batch_size=256,
    super_batch_size=64,
    swift_concurrency=1,
    super_concurrency=1,
    swift_num_gpus=0,
    super_num_gpus=0,
    swift_num_cpus=1,
    super_num_cpus=1,
    on_error="raise",
    timeline=None,
):
    """Run a joint model over a Ray dataset: a Swift pool and a Super pool, streaming.

    Every row goes through the **Swift stage** (routing score and, for the
    rows it keeps, the Swift's answer); the **Super stage** answers the rows
    with ``routing_score < threshold`` and passes the Swift's rows through.
    Each stage is a ``map_batches`` with its own pool of actors that load the
    model once per worker, its own batch size, concurrency and GPUs. The
    stages are chained with nothing in between that waits for the whole
    dataset (no filter, union, sort or ``materialize``), so Ray Data streams
    the blocks through both pools at once: the Super works on the first
    blocks while the Swift scores the next ones, and each row is scored by
    the Swift once. Ray Data's ``preserve_order`` keeps the blocks in the
    order of the input, so the result is in input order without a sort.

    The input is read (and numbered) once before the stages start, and the
    result is materialized in the object store after them; with
    ``on_error="raise"`` this process then reads it once, a block at a time,
    to count the bad rows (``"record"`` skips that).

    A worker that dies (a killed process, a lost node) is restarted by Ray
    Data, which retries its batches (its actor pools default to unlimited
    ``max_restarts`` and ``max_task_retries``): a retried batch is computed
    again from its input rows, so the output has neither duplicates nor
    losses.

    Parameters
    ----------
    joint : JointClassifier, CascadeClassifier, JointSeq2Seq or path-like
        A fitted joint model, or the folder :func:`elang_sk.save_joint` wrote.
        Prefer the folder: each worker then loads the model from it (safely,
        see :func:`elang_sk.load_joint`), instead of Ray pickling the model
        object to every worker. The folder must be readable from every node.
    dataset : ray.data.Dataset or path-like
        The inputs, one per row in ``text_column``; or a path Ray reads:
        ``.parquet``/``.pq``, ``.jsonl`` (JSON lines), ``.json``, ``.csv``,
        ``.txt`` (one text per line, column ``"text"``), or a folder of
        Parquet files. A ``row_id`` column, if present, is kept as the row id
        (it must be unique and sortable); otherwise ``0..n-1`` is added.
    threshold : float or list of float, default=None
        The routing threshold (the serving knob): the Swift keeps rows with
        ``routing_score >= threshold``; for a cascade, a list with one
        threshold per stage but the last. None uses the model's
        ``thresholds_``.
    text_column : str, default="text"
        The column holding the inputs.
    swift_batch_size, super_batch_size : int, default=256, 64
        ``swift_batch_size`` is the number of rows per block that flows
        through the stages, and per call of every stage but the last (all the
        routed stages of a cascade); ``super_batch_size`` the most rows per
        call of the last stage, which answers the routed rows of each block
        in calls of at most that many (a block with 256 rows of which 100 are
        routed gives calls of 64 and 36 rows). Raise ``swift_batch_size`` for
        fuller Super calls when the Swift keeps most rows. The other
        ``swift_*`` options set every stage but the last, the ``super_*``
        options the last stage.
    swift_concurrency, super_concurrency : int or tuple, default=1
        Number of actors of each stage's pool (or ``(min, max)`` for an
        autoscaling pool). The pools run at the same time: size them with
        :func:`pool_shares`.
    swift_num_gpus, super_num_gpus : float, default=0
        GPUs per actor of each stage (fractions share a GPU).
    swift_num_cpus, super_num_cpus : float, default=1
        CPUs per actor of each stage. The pools run at the same time, so the
        cluster must hold all their actors at once (a pool that cannot start
        its actors makes the run wait); no other Ray task runs while they do.
        A worker uses as many threads as its whole CPUs (at least one).
    on_error : {"raise", "record"}, default="raise"
        What to do with rows that cannot be predicted (e.g. a missing text, a
        number where the model takes text): they never stop the other rows.
        With ``"record"`` they come back with ``served_by="error"``, no
        prediction, and the message (naming the ``row_id``) in ``error``;
        with ``"raise"`` a :class:`BadRowsError` naming them is raised after
        the run, holding that full result in its ``dataset`` attribute.
    timeline : path-like or None, default=None
        A folder (created if needed; on a cluster, one that every node
        writes to): each worker appends a JSON line per batch to
        ``stage<k>-<pid>.jsonl`` there, with the stage, its name, the
        process, the batch's start and end (``time.time()``), its rows and
        the rows the stage computed. :func:`read_timeline` reads them: to see
        which pool waits for which, and that the stages overlap.

    Returns
    -------
    result : ray.data.Dataset
        The input's columns, ``row_id``, and ``prediction``, ``served_by``
        (``"swift"``, ``"super"`` or ``"error"``), ``routing_score``,
        ``error`` (None on good rows) and, for a classifier with
        ``predict_proba``, ``probabilities`` (a list per row, in the order of
        ``joint.classes_``). In the order of the input; given row ids that
        are not in increasing order are sorted (after the stages).

    Raises
    ------
    BadRowsError
        With ``on_error="raise"``, if some rows failed (after all rows ran).
    ValueError
        If ``text_column`` is missing, or an output column already exists.

    See Also
    --------
    elang_sk.save_joint : Save the model folder the workers load.
    read_timeline : The batches each stage ran, and when.

    Examples
    --------
    Save the model once, and let every worker load it from the folder:

    >>> import tempfile
    >>> import ray
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from elang_sk import JointClassifier, save_joint
    >>> from elang_sk.distributed import predict_dataset
    >>> texts = ["good film", "great plot", "bad film", "awful plot", "good",
    ...          "bad plot", "great", "awful film"] * 5
    >>> labels = [1, 1, 0, 0, 1, 0, 1, 0] * 5
    >>> def pipe(C):
    ...     return make_pipeline(TfidfVectorizer(), LogisticRegression(C=C))
    >>> joint = JointClassifier(pipe(0.1).fit(texts, labels),
    ...                         pipe(10).fit(texts, labels)).fit(texts, labels)
    >>> folder = save_joint(joint, tempfile.mkdtemp() + "/joint")
    >>> _ = ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    >>> ds = ray.data.from_items([{"text": t} for t in texts[:8]])
    >>> out = predict_dataset(folder, ds, threshold=3.5).to_pandas()
    >>> out["served_by"].tolist()
    ['super', 'super', 'super', 'super', 'swift', 'super', 'swift', 'super']
    >>> _ = joint.set_params(threshold=3.5)
    >>> out["prediction"].tolist() == joint.predict(texts[:8]).tolist()
    True
    """
    import ray
    import ray.data
    from ray.data.context import ShuffleStrategy

    _check_options(on_error, text_column)
    check_batch_size(swift_batch_size, "swift_batch_size")
    check_batch_size(super_batch_size, "super_batch_size")
    if isinstance(joint, str | os.PathLike):
        joint = os.fspath(Path(joint).resolve())
    # Loaded here once, before any worker starts: a missing or damaged folder
    # fails with load_joint's message, and the stages are known.
    driver = _load(joint)
    thresholds = _stage_thresholds(driver, threshold)
    n_stages = len(driver.stage_names_)
    if not isinstance(dataset, ray.data.Dataset):
        dataset = _read(dataset)
    _check_columns(dataset.columns(), text_column)
    if timeline is not None:
        timeline = Path(timeline).resolve()
        timeline.mkdir(parents=True, exist_ok=True)
        timeline = os.fspath(timeline)
    out, unsorted = _with_row_ids(dataset, swift_batch_size)
    for k in range(n_stages):
        last = k == n_stages - 1
        out = out.map_batches(
            _Stage,
            fn_constructor_args=(
                joint,
                k,
                thresholds,
                text_column,
                super_batch_size if last else swift_batch_size,
                timeline,
            ),
            # Every stage takes the blocks as the one before emits them.
            batch_size=swift_batch_size,
            batch_format="pandas",
            compute=_pool(super_concurrency if last else swift_concurrency),
            num_gpus=super_num_gpus if last else swift_num_gpus,
            num_cpus=super_num_cpus if last else swift_num_cpus,
        )
    if unsorted:
        # The default shuffle starts a pool of aggregator actors: seconds for
        # any size. A pull-based sort shuffles the few, large blocks. (The
        # context is the pipeline's own copy.)
        out.context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        out = out.sort(ROW_ID)
    result = out.materialize()
    if on_error == "raise":
        # Read here, a block at a time: a Ray task would need a worker, and on
        # a small cluster the pools' workers are gone by now, so a new one
        # would start (seconds, to import this package) for a count.
        n_bad, examples = 0, []
        for bundle in result.iter_internal_ref_bundles():
            for block in bundle.block_refs:
                n, messages = _count_bad(ray.get(block))
                n_bad += n
                examples += messages[: 3 - len(examples)]
        if n_bad:
            raise _bad_rows_error(n_bad, examples, result)
    return result


def read_timeline(folder):
    """The batches the stages of :func:`predict_dataset` ran, and when.

    Reads the lines that ``predict_dataset(..., timeline=folder)`` wrote: one
    per batch a stage worker ran.

    Parameters
    ----------
    folder : path-like
        The ``timeline`` folder of a :func:`predict_dataset` call.

    Returns
    -------
    timeline : pandas.DataFrame
        One row per batch, sorted by ``start``: ``stage`` (its index),
        ``name`` (e.g. ``"swift"``), ``pid`` (the worker's process), ``start``
        and ``end`` (seconds since the epoch, ``time.time()``), ``rows`` (the
        batch's rows) and ``computed`` (the rows the stage answered or
        scored; the others passed through).

    Examples
    --------
    >>> import json, tempfile
    >>> from elang_sk.distributed import read_timeline
    >>> folder = tempfile.mkdtemp()
    >>> line = {"stage": 0, "name": "swift", "pid": 7, "start": 1.0, "end": 2.0,
    ...         "rows": 256, "computed": 256}
    >>> with open(f"{folder}/stage0-7.jsonl", "w") as f:
    ...     _ = f.write(json.dumps(line) + "\\n")
    >>> read_timeline(folder)[["name", "start", "end", "rows"]].values.tolist()
    [['swift', 1.0, 2.0, 256]]
    """
    import pandas as pd

    columns = ["stage", "name", "pid", "start", "end", "rows", "computed"]
    rows = []
    for path in sorted(Path(folder).glob("stage*-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("start", kind="stable").reset_index(drop=True)


def predict_frame(
    joint,
    frame,
    *,
    threshold=None,
    text_column="text",
    batch_size=256,
    on_error="raise",
    progress=None,
):
    """The two stages of :func:`predict_dataset` on a pandas frame, in process.

    The same stages run in this process, one batch at a time, without Ray:
    for inputs that fit one machine, and the ``elang-sk predict`` command.
    The output has the same columns and order as :func:`predict_dataset`.

    Parameters
    ----------
    joint : JointClassifier, CascadeClassifier, JointSeq2Seq or path-like
        A fitted joint model or a folder written by :func:`elang_sk.save_joint`.
    frame : pandas.DataFrame
        The inputs, one per row in ``text_column``.
    threshold : float or list of float, default=None
        The routing threshold (a list for a cascade); None uses the model's
        ``thresholds_``.
    text_column : str, default="text"
        The column holding the inputs.
    batch_size : int, default=256
        Rows per batch of each stage.
    on_error : {"raise", "record"}, default="raise"
        As in :func:`predict_dataset`.
    progress : callable or None, default=None
        Called with the number of rows each finished batch had (e.g. a tqdm
        bar's ``update``).

    Returns
    -------
    result : pandas.DataFrame
        As :func:`predict_dataset` returns, sorted by ``row_id``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.distributed import predict_frame
    >>> texts = ["good film", "great plot", "bad film", "awful plot"] * 10
    >>> labels = [1, 1, 0, 0] * 10
    >>> def pipe(C):
    ...     return make_pipeline(TfidfVectorizer(), LogisticRegression(C=C))
    >>> joint = JointClassifier(pipe(0.1).fit(texts, labels),
    ...                         pipe(10).fit(texts, labels)).fit(texts, labels)
    >>> out = predict_frame(joint, pd.DataFrame({"text": texts[:4]}), threshold=0)
    >>> out[["prediction", "served_by"]].to_numpy().tolist()
    [[1, 'swift'], [1, 'swift'], [0, 'swift'], [0, 'swift']]
    """
    import pandas as pd

    _check_options(on_error, text_column)
    _check_columns(frame.columns, text_column)
    check_batch_size(batch_size, "batch_size")
    joint = _load(joint)
    thresholds = _stage_thresholds(joint, threshold)
    frame = frame.reset_index(drop=True)
    if ROW_ID not in frame.columns:
        frame = frame.assign(**{ROW_ID: np.arange(len(frame))})
    else:
        check_row_ids(frame[ROW_ID])
    stages = [
        _Stage(joint, k, thresholds, text_column)
        for k in range(len(joint.stage_names_))
    ]
    pieces = []
    for start in range(0, len(frame), batch_size):
        out = frame.iloc[start : start + batch_size]
        for stage in stages:
            out = stage(out)
            pending = out["served_by"] == PENDING
            pieces.append(out[~pending])
            out = out[pending]
            if not len(out):
                break
        if progress is not None:
            progress(min(batch_size, len(frame) - start))
    result = pd.concat(pieces) if pieces else stages[0](frame)
    result = result.sort_values(ROW_ID, kind="stable").reset_index(drop=True)
    if on_error == "raise":
        bad = result["error"].notna()
        if bad.any():
            raise _bad_rows_error(
                int(bad.sum()), result.loc[bad, "error"].head(3).tolist(), result
            )
    return result


def pool_shares(swift_ratio, swift_cost, super_cost):
    """Shares of the accelerators the Swift and Super pools should get.

    Per input, the Swift stage costs ``swift_cost`` and the Super stage
    ``(1 - swift_ratio) * super_cost`` (only routed inputs reach it). Pools
    sized in proportion to these finish together, so that neither waits for
    the other::

        super_share = (1 - r) * c_super / (c_swift + (1 - r) * c_super)

    Parameters
    ----------
    swift_ratio : float in [0, 1]
        Fraction of inputs the Swift keeps (``routing_report(X).swift_ratio``).
    swift_cost, super_cost : float > 0
        Cost per input of each model alone, in one unit (seconds of one worker,
        or FLOPs): e.g. ``joint.costs_.swift`` and ``joint.costs_.super``.

    Returns
    -------
    swift_share, super_share : float
        Fractions of the workers (or GPUs) for each pool; they sum to 1.

    Examples
    --------
    A Super 10 times as costly, and the Swift keeping 80% of the inputs: the
    Super pool needs two thirds of the GPUs.

    >>> from elang_sk.distributed import pool_shares
    >>> [round(s, 3) for s in pool_shares(0.8, 1.0, 10.0)]
    [0.333, 0.667]
    """
    for name, value in (("swift_cost", swift_cost), ("super_cost", super_cost)):
        if not (isinstance(value, int | float) and 0 < value < math.inf):
            raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    if not (isinstance(swift_ratio, int | float) and 0 <= swift_ratio <= 1):
        raise ValueError(f"swift_ratio must be in [0, 1]; got {swift_ratio!r}.")
    routed = (1 - swift_ratio) * super_cost
    super_share = routed / (swift_cost + routed)
    return 1 - super_share, super_share
