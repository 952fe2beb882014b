"""The ``elang-sk predict`` command: batch prediction with a saved joint model.

Reads a table (Parquet, JSON lines, CSV, or text with one input per line),
predicts with a folder written by :func:`elang_sk.save_joint`, and writes the
table with the outputs of :func:`elang_sk.distributed.predict_dataset`. It
runs in this process, with a progress bar, unless Ray is asked for
(``--ray-address``, e.g. ``local``): on one machine the process is faster,
and Ray pays only across machines or GPUs. Ray's own logs and progress bars
are kept out of the command's output (they stay in Ray's log files). The
command's options are declared in :mod:`elang_sk.__main__`, which imports
this module only when ``predict`` runs.
"""

import contextlib
import logging
import sys
from pathlib import Path

_FORMATS = (".parquet", ".pq", ".jsonl", ".csv", ".txt")
_ROW_ID = "row_id"  # elang_sk.distributed.ROW_ID, without importing pandas
# The parser's default of --ray-min-rows, deprecated: this value, or None,
# means the option was not given.


def _suffix(path, allowed, what):
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise ValueError(
            f"{what} {path!r} must end in one of {', '.join(allowed)}; got "
            f"{suffix or 'no suffix'}."
        )
    return suffix


def read_table(path):
    """A pandas DataFrame of a .parquet, .jsonl, .csv or .txt file."""
    import pandas as pd

    suffix = _suffix(path, _FORMATS, "--input")
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    if suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False)
    with open(path, encoding="utf-8") as f:
        return pd.DataFrame({"text": f.read().splitlines()})


def write_table(frame, path):
    """Write ``frame`` as .parquet, .jsonl or .csv."""
    import pandas as pd

    suffix = _suffix(path, (".parquet", ".pq", ".jsonl", ".csv"), "--output")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy()
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.ArrowDtype):
            # Arrow-backed columns (Ray's lists) as plain Python objects: their
            # dtype names do not round-trip through the Parquet metadata.
            frame[name] = pd.Series(
                frame[name].tolist(), index=frame.index, dtype=object
            )
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False)


def _ray_available():
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def use_ray(args, n_rows=None):
    """Whether ``elang-sk predict`` runs on Ray: only when asked.

    Ray is used with ``--ray-address`` (``local`` starts Ray on this machine
    for the run; ``auto`` or ``ray://host:10001`` joins a cluster), or with a
    ``--ray`` (a local Ray). The deprecated ``--ray-min-rows
    N``, when given, still switches to Ray from N rows on (if Ray is
    installed), and says so on standard error; its default no longer
    switches: on one machine the process is faster (10 s against 34 s for
    20,000 rows of a TF-IDF pair on 2 cores, Ray's start-up included).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``elang-sk predict`` arguments.
    n_rows : int or None, default=None
        The input's number of rows, when it was read here.

    Returns
    -------
    ray : bool

    Examples
    --------
    >>> from argparse import Namespace
    >>> from elang_sk._cli_predict import use_ray
    >>> use_ray(Namespace(ray_address=None, ray_min_rows=None), n_rows=50_000)
    False
    >>> use_ray(Namespace(ray_address="local", ray_min_rows=None))
    True
    """
    if args.ray_address is not None or getattr(args, "ray", False):
        return True
    min_rows = getattr(args, "ray_min_rows", None)
    if min_rows is None or n_rows is None:
        return False
    print(
        "elang-sk: warning: --ray-min-rows is deprecated and will be removed: "
        "elang-sk predict runs in this process unless asked for Ray; pass "
        "--ray-address local (or a cluster's address) to run on Ray.",
        file=sys.stderr,
    )
    return n_rows >= min_rows and n_rows > 0 and _ray_available()


@contextlib.contextmanager
def _stderr_aside():
    """Send this process's standard error (the file descriptor) to a temporary
    file for the block; replay it if the block fails.

    Ray's core writes some messages straight to the file descriptor, past
    Python's logging (e.g. a note on actor constructor arguments for every
    Ray Data actor pool).
    """
    import os
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to set aside
        yield
        return
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                log.seek(0)
                sys.stderr.write(log.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def _ray_session(address, verbose=False):
    """Ray for one ``elang-sk predict`` run, its logs kept out of the output.

    Starts Ray (``address``: ``"local"`` for a new instance on this machine,
    None for Ray's default, ``"auto"`` or ``"ray://..."`` to join a cluster)
    unless it is running already, and shuts it down after the run if it
    started it. Unless ``verbose``: the workers' output is not forwarded
    (``log_to_driver=False``), Ray's messages below errors and Ray Data's
    console messages are dropped (Ray Data's stay in its ``ray-data.log``),
    Ray Data's progress bars are off, and what Ray's core writes to standard
    error while the block runs is set aside, and shown only if the block
    fails. The settings are restored after.

    Parameters
    ----------
    address : str or None
        The ``--ray-address``.
    verbose : bool, default=False
        Show Ray's logs and progress bars.

    Yields
    ------
    None
    """
    with contextlib.ExitStack() as stack:
        if not verbose:
            stack.enter_context(_stderr_aside())
        import ray

        if not ray.is_initialized():
            options = {}
            if not verbose:
                options = {"log_to_driver": False, "logging_level": logging.ERROR}
            if address == "local":  # a new instance: no dashboard to start
                options["include_dashboard"] = False
            ray.init(address=address, **options)
            stack.callback(ray.shutdown)
        import ray.data

        context = ray.data.DataContext.get_current()
        bars = context.enable_progress_bars
        # Ray Data logs INFO lines (execution plans, "finished in") to the
        # console and to ray-data.log: only the console is quieted.
        consoles = [
            (handler, handler.level)
            for handler in logging.getLogger("ray.data").handlers
            if isinstance(handler, logging.StreamHandler)
        ]
        if not verbose:
            context.enable_progress_bars = False
            for handler, _ in consoles:
                handler.setLevel(logging.ERROR)
        try:
            yield
        finally:
            context.enable_progress_bars = bars
            for handler, level in consoles:
                handler.setLevel(level)


def _progress(total, quiet, n_batches):
    """A progress bar's ``update`` and ``close``: no-ops when quiet.

    The bar is :func:`elang_sk.joint._base.progress_bar`'s, forced on (the command
    shows it off a terminal too) and left on screen with the count of rows;
    without one (no tqdm, or a single batch), a line per batch says how many
    rows are done.
    """
    from elang_sk._utils import progress_bar

    if quiet:
        return (lambda n: None), (lambda: None)
    bar = progress_bar(n_batches, total, True)
    if bar is None:
        done = [0]

        def update(n):
            done[0] += n
            print(f"predicted {done[0]}/{total} rows", file=sys.stderr)

        return update, (lambda: None)
    bar.unit, bar.leave = "row", True
    bar.set_description_str("predict", refresh=False)
    return bar.update, bar.close


def check_arguments(args):
    """Refuse bad ``predict`` arguments before any model or table is read.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``elang-sk predict`` arguments.

    Raises
    ------
    ValueError
        If ``--input`` or ``--output`` has a suffix that is not read or
        written, or ``--batch-size`` is not a positive integer.
    FileNotFoundError
        If ``--input`` is not a file (without ``--ray-address``: Ray reads
        its own paths).

    Examples
    --------
    >>> from argparse import Namespace
    >>> from elang_sk._cli_predict import check_arguments
    >>> args = Namespace(input="in.xlsx", output="out.csv", batch_size=8,
    ...                  ray_address=None)
    >>> check_arguments(args)
    Traceback (most recent call last):
    ...
    ValueError: --input 'in.xlsx' must end in one of .parquet, ...
    """
    from elang_sk._validation import check_batch_size

    _suffix(args.output, (".parquet", ".pq", ".jsonl", ".csv"), "--output")
    _suffix(args.input, _FORMATS, "--input")
    check_batch_size(args.batch_size, "--batch-size")
    if args.ray_address is None and not Path(args.input).expanduser().is_file():
        raise FileNotFoundError(
            f"--input {args.input!r}: no such file. Pass an existing .parquet, "
            ".jsonl, .csv or .txt file."
        )


def run(args):
    """Run ``elang-sk predict``; returns the exit status.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``elang-sk predict`` arguments.

    Returns
    -------
    status : int
        0 when every row was predicted, 1 when some could not be (they are
        written with ``served_by="error"``).
    """
    from elang_sk._persist import load_joint
    from elang_sk._validation import check_batch_size, check_row_ids
    from elang_sk.distributed import _check_columns as check_columns
    from elang_sk.distributed import predict_dataset, predict_frame

    check_arguments(args)
    batch_size = check_batch_size(args.batch_size, "--batch-size")
    frame = stages = None
    on_ray = use_ray(args)
    if not on_ray:
        frame = read_table(args.input)
        check_columns(frame.columns, args.text_column)
        if _ROW_ID in frame.columns:
            check_row_ids(frame[_ROW_ID], _ROW_ID)
        on_ray = use_ray(args, len(frame))
    if on_ray:
        with _ray_session(args.ray_address, getattr(args, "verbose", False)):
            import ray.data

            # Ray reads the input itself; a table read here (the deprecated
            # --ray-min-rows) is handed over as it is.
            source = args.input if frame is None else ray.data.from_pandas(frame)
            result = predict_dataset(
                str(Path(args.model).resolve()),
                source,
                threshold=args.threshold,
                text_column=args.text_column,
                swift_batch_size=batch_size,
                super_batch_size=batch_size,
                on_error="record",
            ).to_pandas()
    else:
        joint = load_joint(args.model)
        stages = joint.stage_names_
        n_batches = -(-len(frame) // batch_size)
        update, close = _progress(len(frame), args.quiet, n_batches)
        try:
            result = predict_frame(
                joint,
                frame,
                threshold=args.threshold,
                text_column=args.text_column,
                batch_size=batch_size,
                on_error="record",
                progress=update,
            )
        finally:
            close()
    write_table(result, args.output)
    bad = result["error"].notna()
    where = "Ray" if on_ray else "this process"
    if bad.any():
        first = result.loc[bad, "error"].iloc[0]
        print(
            f"elang-sk: error: {int(bad.sum())} of {len(result)} rows could not be "
            f"predicted (first: {first}); the others were written to {args.output}, "
            "the bad ones with served_by='error' and the message in 'error'.",
            file=sys.stderr,
        )
        return 1
    served = result["served_by"].value_counts().to_dict()
    # Every stage by name, in order when the model was loaded here (a
    # cascade's stages are not "swift" and "super").
    names = stages if stages is not None else list(served)
    counts = ", ".join(f"{name}: {served.get(name, 0)}" for name in names)
    if not args.quiet:
        print(
            f"wrote {len(result)} predictions to {args.output} (ran in {where}; "
            f"{counts})",
            file=sys.stderr,
        )
    return 0
