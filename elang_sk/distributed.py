"""Joint inference at scale on Ray Data: one actor pool per stage.

:func:`predict_dataset` runs a fitted joint model over a
:class:`ray.data.Dataset` as one ``map_batches`` stage per model, each with
its own pool of actors (a callable class that loads the model once per
worker), its own batch size, concurrency and resources:

1. **Swift stage** (every row): routing score, the routing decision at the
   call's ``threshold``, and the Swift's answer on the rows it keeps.
2. **Super stage** (only the routed rows, filtered in between): the Super's
   answer. A :class:`~elang_sk.CascadeClassifier` has a stage per model: each
   answers what it keeps and passes the rest on.

Every stage calls the joint model's public
:meth:`~elang_sk.JointClassifier.route_stage`. The outputs are united and
sorted by a row id, so the result is in the order of the input. ray is
imported only when :func:`predict_dataset` runs; the stages also run without
Ray, on pandas frames, for small inputs (the ``elang-sk predict`` command).
"""

import math
import os
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

    The first stage gets the input rows, each later stage the rows the one
    before passed on (``served_by == "pending"``). A stage scores its rows
    (all but the last), keeps those with ``score >= threshold`` and answers
    them, through the joint model's public :meth:`route_stage`.

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
    """

    def __init__(self, model, stage, thresholds, text_column):
        self.joint = _load(model)
        self.stage = stage
        names = self.joint.stage_names_
        self.name = names[stage]
        self.last = stage == len(names) - 1
        if thresholds is None:
            thresholds = self.joint.thresholds_
        self.threshold = None if self.last else float(thresholds[stage])
        self.text_column = text_column
        self.proba = _has_proba(self.joint)
        self.n_classes = len(self.joint.classes_) if self.proba else 0

    def _run(self, texts):
        methods = ("predict", "predict_proba") if self.proba else ("predict",)
        return self.joint.route_stage(
            texts, self.stage, method=methods, threshold=self.threshold
        )

    def __call__(self, batch):
        texts = list(batch[self.text_column])
        ids = batch[ROW_ID].to_numpy()
        if self.stage == 0:
            out = _empty_outputs(len(texts), self.n_classes if self.proba else None)
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
        if not texts:
            return _with_outputs(batch, out)
        present = np.array([i for i, t in enumerate(texts) if not _missing(t)], np.intp)
        for i in np.setdiff1d(np.arange(len(texts)), present):
            out["error"][i] = (
                f"row {_item(ids[i])!r}: ValueError: the text is empty or missing "
                "(an empty cell or a blank line): there is nothing to predict. "
                "Fill it in, or drop the row."
            )
            out["served_by"][i] = "error"
        if not present.size:
            return _with_outputs(batch, out)
        step, good, errors = _guarded(
            self._run, [texts[i] for i in present], ids[present]
        )
        good = present[good]
        errors = {int(present[i]): message for i, message in errors.items()}
        for i, message in errors.items():
            out["error"][i] = message
            out["served_by"][i] = "error"
        if step is not None:
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
                        out["probabilities"][row] = np.asarray(
                            proba[j], np.float64
                        ).tolist()
        return _with_outputs(batch, out)


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


def _rows_served_by(batch, routed):
    """The rows passed on to the next stage (``routed=True``) or all the others."""
    return batch[(batch["served_by"] == PENDING) == routed]


def _bad_rows(batch):
    return batch[batch["error"].notna()]


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


def _num_rows(table):
    return table.num_rows


def _numbered(offset, *tables):
    import pyarrow as pa

    table = pa.concat_tables(tables, promote_options="permissive")
    ids = pa.array(np.arange(offset, offset + table.num_rows, dtype=np.int64))
    return table.append_column(ROW_ID, ids)


def _with_row_ids(ds, rows_per_block):
    """``ds`` with ``row_id`` = its row number, unless it has one already.

    The blocks are read in order (``preserve_order``), counted, grouped into
    blocks of about ``rows_per_block`` rows (many tiny blocks make every later
    step slow; large ones are split, so that every worker gets some), and
    numbered from their offsets: the ids follow the order of the input.
    """
    import ray
    import ray.data

    if ROW_ID in ds.columns():
        check_row_ids(ds.select_columns([ROW_ID]).to_pandas()[ROW_ID])
        return ds
    options = ray.data.DataContext.get_current().execution_options
    before, options.preserve_order = options.preserve_order, True
    try:
        tables = ds.to_arrow_refs()
    finally:
        options.preserve_order = before
    sizes = ray.get([ray.remote(_num_rows).remote(t) for t in tables])
    if sum(sizes) == 0:
        raise ValueError("The dataset is empty: at least one input is needed.")
    numbered = ray.remote(_numbered)
    blocks, group, offset, rows = [], [], 0, 0
    for table, size in zip(tables, sizes, strict=True):
        group.append(table)
        rows += size
        if rows >= rows_per_block:
            blocks.append(numbered.remote(offset, *group))
            group, offset, rows = [], offset + rows, 0
    if group:
        blocks.append(numbered.remote(offset, *group))
    ds = ray.data.from_arrow_refs(blocks)
    # One big block (e.g. from a DataFrame) would feed one worker only.
    wanted = math.ceil(sum(sizes) / rows_per_block)
    return ds.repartition(wanted) if len(blocks) < wanted else ds


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
):
    """Run a joint model over a Ray dataset: a Swift pool, then a Super pool.

    Every row goes through the **Swift stage** (routing score and, for the
    rows it keeps, the Swift's answer); only the rows with
    ``routing_score < threshold`` go on, through a filter, to the **Super
    stage**. Each stage is a ``map_batches`` with its own pool of actors that
    load the model once per worker, its own batch size, concurrency and GPUs.
    The Swift stage's output is materialized (in the object store) before
    the Super stage reads it, so that the Swift runs once per row; the result
    is sorted by ``row_id``, i.e. in the order of the input.

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
        Rows per batch of each stage. The ``swift_*`` options set every stage
        but the last (all the routed stages of a cascade), the ``super_*``
        options the last stage.
    swift_concurrency, super_concurrency : int or tuple, default=1
        Number of actors of each stage's pool (or ``(min, max)`` for an
        autoscaling pool).
    swift_num_gpus, super_num_gpus : float, default=0
        GPUs per actor of each stage (fractions share a GPU).
    swift_num_cpus, super_num_cpus : float, default=1
        CPUs per actor of each stage. Leave some CPUs of the cluster free for
        Ray's own tasks (numbering, filtering, sorting): a pool that takes
        every CPU makes the run wait forever.
    on_error : {"raise", "record"}, default="raise"
        What to do with rows that cannot be predicted (e.g. a missing text, a
        number where the model takes text): they never stop the other rows.
        With ``"record"`` they come back with ``served_by="error"``, no
        prediction, and the message (naming the ``row_id``) in ``error``;
        with ``"raise"`` a :class:`BadRowsError` naming them is raised after
        the run, holding that full result in its ``dataset`` attribute.

    Returns
    -------
    result : ray.data.Dataset
        The input's columns, ``row_id``, and ``prediction``, ``served_by``
        (``"swift"``, ``"super"`` or ``"error"``), ``routing_score``,
        ``error`` (None on good rows) and, for a classifier with
        ``predict_proba``, ``probabilities`` (a list per row, in the order of
        ``joint.classes_``). Sorted by ``row_id``.

    Raises
    ------
    BadRowsError
        With ``on_error="raise"``, if some rows failed (after all rows ran).
    ValueError
        If ``text_column`` is missing, or an output column already exists.

    See Also
    --------
    elang_sk.save_joint : Save the model folder the workers load.

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
    dataset = _with_row_ids(dataset, swift_batch_size)
    done, pending = [], dataset
    for k in range(n_stages):
        last = k == n_stages - 1
        out = pending.map_batches(
            _Stage,
            fn_constructor_args=(joint, k, thresholds, text_column),
            batch_size=super_batch_size if last else swift_batch_size,
            batch_format="pandas",
            compute=_pool(super_concurrency if last else swift_concurrency),
            num_gpus=super_num_gpus if last else swift_num_gpus,
            num_cpus=super_num_cpus if last else swift_num_cpus,
        )
        if last:
            done.append(out)
            break
        out = out.materialize()  # each stage runs once per row
        done.append(
            out.map_batches(_rows_served_by, fn_args=(False,), batch_format="pandas")
        )
        pending = out.map_batches(
            _rows_served_by, fn_args=(True,), batch_format="pandas"
        )
    context = ray.data.DataContext.get_current()
    before = context.shuffle_strategy
    # The default shuffle starts a pool of aggregator actors: seconds for any
    # size. A pull-based sort shuffles the few, large blocks of the output.
    context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    try:
        result = done[0].union(*done[1:]).sort(ROW_ID).materialize()
    finally:
        context.shuffle_strategy = before
    if on_error == "raise":
        bad = result.map_batches(_bad_rows, batch_format="pandas").materialize()
        n_bad = bad.count()
        if n_bad:
            examples = [row["error"] for row in bad.take(3)]
            raise _bad_rows_error(n_bad, examples, result)
    return result


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
