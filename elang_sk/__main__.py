"""Command line: ``elang-sk run``, ``predict``, ``serve`` (or ``python -m elang_sk``).

The parser is built from this module alone (argparse and the standard
library): ``elang-sk --help`` and argument errors answer without importing
torch, transformers or Ray. The commands import their modules when they run.
"""

import argparse
import math
import os
import re
import sys

from elang_sk._cli_serve import add_parser as add_serve_parser

# The defaults and choices of `elang-sk run`, shared with elang_sk._protocol.
DEFAULTS = dict(
    dataset="movie_snippets",
    swift="all-MiniLM-L6-v2",
    super="all-mpnet-base-v2",
    score="energy",
    threshold="crossing",
    target=None,
    tol=None,
    delta=0.1,
    output="elang_output",
)
SCORES = ("energy", "softmax", "entropy", "random")
THRESHOLD_STRATEGIES = (
    "crossing",
    "swift_ratio",
    "budget",
    "match_super",
    "risk_control",
)
CALIBRATIONS = ("dev", "cross-fit")
TASKS = ("auto", "classification", "translation")
CORPORA = ("gettext+libreoffice", "gettext")
# `run` options that the translation table does not take, with their
# defaults: given with another value, they are refused rather than ignored.
_CLASSIFICATION_ONLY = (
    ("swift", "--swift", DEFAULTS["swift"]),
    ("super_model", "--super", DEFAULTS["super"]),
    ("score", "--score", DEFAULTS["score"]),
    ("threshold", "--threshold", DEFAULTS["threshold"]),
    ("target", "--target", DEFAULTS["target"]),
    ("tol", "--tol", DEFAULTS["tol"]),
    ("delta", "--delta", DEFAULTS["delta"]),
    ("distill", "--distill", False),
    ("fine_tune_swift", "--fine-tune-swift", False),
    ("calibration", "--calibration", "dev"),
    ("max_length", "--max-length", 128),
    ("retime", "--retime", False),
)
# Options whose value may be a negative number such as -inf or -1e3: argparse
# would read "-inf" as an option, so "--threshold -inf" is joined into
# "--threshold=-inf" before parsing.
_NEGATIVE_VALUE_OPTIONS = ("--threshold",)
_DEVICE = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d+)?")


def batch_size_arg(text, name="--batch-size"):
    """argparse ``type`` of a batch size: a positive integer, else a usage error.

    Parameters
    ----------
    text : str
        The value given on the command line.
    name : str, default="--batch-size"
        The option, for the message.

    Returns
    -------
    batch_size : int

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a positive whole number (argparse then prints the
        usage and the message, and exits with status 2).

    Examples
    --------
    >>> from elang_sk.__main__ import batch_size_arg
    >>> batch_size_arg("64")
    64
    """
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(
            f"{name} must be a positive integer (rows per batch), got {text!r}. "
            f"Pass a whole number, e.g. {name} 256."
        )
    return value


def threshold_arg(text):
    """argparse ``type`` of ``run --threshold``: a strategy name or a number.

    Parameters
    ----------
    text : str
        The value given on the command line.

    Returns
    -------
    threshold : str or float
        One of :data:`THRESHOLD_STRATEGIES`, or a fixed threshold (``-inf``
        keeps every input with the Swift, ``inf`` sends every one to the
        Super).

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is neither.

    Examples
    --------
    >>> from elang_sk.__main__ import threshold_arg
    >>> threshold_arg("match_super"), threshold_arg("-inf"), threshold_arg("2.5")
    ('match_super', -inf, 2.5)
    """
    if text in THRESHOLD_STRATEGIES:
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--threshold must be a strategy ({', '.join(THRESHOLD_STRATEGIES)}) "
            f"or a number (e.g. 1.5, -inf, inf); got {text!r}."
        ) from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(
            "--threshold nan is no threshold: pass a number (e.g. 1.5, -inf, inf) "
            "or a strategy."
        )
    return value


def number_arg(low=None, high=None, name="value", closed=True):
    """An argparse ``type``: a float in ``[low, high]`` (or ``(low, high)``).

    Parameters
    ----------
    low, high : float or None
        The bounds; None leaves that side unbounded.
    name : str, default="value"
        The option, for the message.
    closed : bool, default=True
        Whether the bounds themselves are allowed.

    Returns
    -------
    parse : callable
        ``parse(text) -> float``, raising ``argparse.ArgumentTypeError``.

    Examples
    --------
    >>> from elang_sk.__main__ import number_arg
    >>> number_arg(0, 1, "--tol")("0.005")
    0.005
    """

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = not math.isnan(value)
        if inside and low is not None:
            inside = value >= low if closed else value > low
        if inside and high is not None:
            inside = value <= high if closed else value < high
        if not inside:
            left, right = ("[", "]") if closed else ("(", ")")
            lo = "-inf" if low is None else format(low, "g")
            hi = "inf" if high is None else format(high, "g")
            span = f"{left}{lo}, {hi}{right}"
            raise argparse.ArgumentTypeError(
                f"{name} must be a number in {span}; got {text!r}."
            )
        return value

    return parse


def device_arg(text):
    """argparse ``type`` of ``--device``: its form only (availability is
    checked when the command runs, with torch).

    Parameters
    ----------
    text : str
        The value given on the command line.

    Returns
    -------
    device : str

    Examples
    --------
    >>> from elang_sk.__main__ import device_arg
    >>> device_arg("cuda:1")
    'cuda:1'
    """
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"--device must be auto, cpu, cuda, cuda:N or mps; got {text!r}. "
            "Pass --device auto to use a GPU when there is one."
        )
    return text


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _model_label(model):
    """A folder-name-safe label of a model name, hub id or folder."""
    name = os.path.basename(os.path.normpath(os.path.expanduser(model))) or model
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def default_output(dataset, swift, super_model, root=DEFAULTS["output"]):
    """The report folder of one dataset and pair: ``root/<dataset>__<swift>__<super>``.

    Parameters
    ----------
    dataset : str
        The dataset name.
    swift, super_model : str
        The models as given (zoo names, hub ids or folders: their last part
        names them).
    root : str, default="elang_output"
        The folder holding every report folder.

    Returns
    -------
    output : str

    Examples
    --------
    >>> from elang_sk.__main__ import default_output
    >>> default_output("trec", "all-MiniLM-L6-v2", "models/bert-base/")
    'elang_output/trec__all-MiniLM-L6-v2__bert-base'
    """
    name = "__".join([dataset, _model_label(swift), _model_label(super_model)])
    return f"{root}/{name}"


def join_negative_values(argv):
    """``argv`` with ``--threshold -inf`` written ``--threshold=-inf``.

    argparse reads a value that starts with ``-`` and is not a plain number
    (``-inf``, ``-1e3``) as an option; joined with ``=`` it is a value.

    Parameters
    ----------
    argv : list of str
        The command line arguments.

    Returns
    -------
    argv : list of str

    Examples
    --------
    >>> from elang_sk.__main__ import join_negative_values
    >>> join_negative_values(["run", "--threshold", "-inf", "--quiet"])
    ['run', '--threshold=-inf', '--quiet']
    """
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        following = argv[i + 1] if i + 1 < len(argv) else None
        if arg in _NEGATIVE_VALUE_OPTIONS and following is not None:
            if following.startswith("-") and _is_number(following):
                out.append(f"{arg}={following}")
                i += 2
                continue
        if arg == "--":
            out.extend(argv[i:])
            break
        out.append(arg)
        i += 1
    return out


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parser():
    parser = argparse.ArgumentParser(
        prog="elang-sk",
        description="E-LANG: route inputs between a small Swift and a large Super "
        "model by the Swift's energy.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_parser(commands)
    commands.add_parser(
        "list",
        help="list the datasets and pretrained models",
        description="List the datasets and pretrained models that `elang-sk run` "
        "can fetch, with their sizes, descriptions and terms of use.",
    )
    _add_predict_parser(commands)
    add_serve_parser(commands)
    return parser


def _add_run_parser(commands):
    run = commands.add_parser(
        "run",
        help="run the full protocol (train, dev, test) and write a report",
        description="Fit Swift and Super on the train split, the joint model on "
        "dev, evaluate on test; print Table-1 and Table-2 style results and write "
        "report.json, report.md and plots. Everything is cached in the data home: "
        "a second run takes seconds.",
    )
    run.add_argument(
        "--task",
        choices=TASKS,
        default="auto",
        help="classification: an encoder Swift/Super pair on a labelled dataset; "
        "translation: the paper's seq2seq table (JointSeq2Seq, every routing "
        "score and threshold rule) on the English-Romanian pair trained in the "
        "data home, trained first when missing (about 75 min on one CPU thread, "
        "with a progress bar); auto: translation for --dataset en_ro, else "
        "classification (default: %(default)s)",
    )
    run.add_argument(
        "--dataset",
        default=None,
        help=f"dataset name (default: {DEFAULTS['dataset']}, or en_ro for "
        "--task translation; see `elang-sk list`)",
    )
    run.add_argument(
        "--corpus",
        choices=CORPORA,
        default=None,
        help="--task translation: what the pair is trained on, the machine's "
        "gettext catalogs plus LibreOffice's Romanian catalogs (fetched once "
        "from Debian), or the machine's only (default: gettext+libreoffice)",
    )
    run.add_argument(
        "--swift",
        default=DEFAULTS["swift"],
        help="Swift model: zoo name, hub id or folder (default: %(default)s)",
    )
    run.add_argument(
        "--super",
        default=DEFAULTS["super"],
        dest="super_model",
        help="Super model: zoo name, hub id or folder (default: %(default)s)",
    )
    run.add_argument(
        "--score",
        default=DEFAULTS["score"],
        choices=SCORES,
        help="routing score (default: %(default)s)",
    )
    run.add_argument(
        "--threshold",
        default=DEFAULTS["threshold"],
        type=threshold_arg,
        metavar="{" + ",".join(THRESHOLD_STRATEGIES) + ",NUMBER}",
        help="threshold strategy, chosen on dev, or a fixed threshold (-inf: "
        "everything to the Swift, inf: everything to the Super) "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--target",
        type=number_arg(0, None, "--target"),
        default=DEFAULTS["target"],
        help="what swift_ratio and budget aim at: the fraction of inputs kept "
        "by the Swift (swift_ratio, in [0, 1]), or the mean FLOPs per input "
        "(budget, e.g. 5e9); required by both",
    )
    run.add_argument(
        "--tol",
        type=number_arg(0, 1, "--tol"),
        default=DEFAULTS["tol"],
        help="accuracy that match_super and risk_control may give up "
        "(default: the strategy's own, 0 for match_super, 0.01 for risk_control)",
    )
    run.add_argument(
        "--delta",
        type=number_arg(0, 1, "--delta", closed=False),
        default=DEFAULTS["delta"],
        help="risk_control: the probability that the promised loss --tol is "
        "exceeded (default: %(default)s)",
    )
    run.add_argument(
        "--distill",
        action="store_true",
        help="train the Swift's head on the Super's soft labels",
    )
    run.add_argument(
        "--fine-tune-swift",
        action="store_true",
        help="fine-tune the Swift's encoder (slow on a CPU; not cached)",
    )
    run.add_argument(
        "--device",
        default="auto",
        type=device_arg,
        help="auto, cpu, cuda, cuda:1, mps (default: %(default)s: CUDA when "
        "available, else the CPU)",
    )
    run.add_argument(
        "--batch-size",
        type=batch_size_arg,
        default=32,
        help="inputs per forward pass of either model; larger is faster on a GPU "
        "and uses more memory (default: %(default)s)",
    )
    run.add_argument(
        "--max-length",
        type=_positive_int,
        default=128,
        help="tokens kept per input; longer inputs are truncated "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--subsample",
        type=_positive_int,
        default=None,
        metavar="N",
        help="quick first try: use only the first N inputs of each of the train, "
        "dev and test splits (default: all)",
    )
    run.add_argument(
        "--data-home",
        default=None,
        help="data, model and cache folder (default: $ELANG_SK_DATA "
        "or ~/elang_sk_data)",
    )
    run.add_argument(
        "--output",
        default=None,
        help="report folder (default: elang_output/<dataset>__<swift>__<super>)",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a report of another configuration in --output (a rerun "
        "of the same configuration replaces its own report without it)",
    )
    run.add_argument(
        "--no-plots",
        action="store_true",
        help="skip tradeoff.png and score_distribution.png (no matplotlib needed)",
    )
    run.add_argument(
        "--calibration",
        choices=CALIBRATIONS,
        default="dev",
        help="rows the risk-controlled thresholds are certified on: the dev split "
        "(a guarantee), or dev plus out-of-fold train predictions (more rows, an "
        "approximation: see the user guide's Guarantees page) "
        "(default: %(default)s)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress messages")
    run.add_argument(
        "--retime",
        action="store_true",
        help="measure the timings again instead of reusing stored ones",
    )


def _add_predict_parser(commands):
    predict = commands.add_parser(
        "predict",
        help="predict a table of inputs with a saved joint model",
        description="Predict every row of --input with the joint model saved in "
        "--model (elang_sk.save_joint) and write --output with the columns "
        "prediction, served_by, routing_score, error (and probabilities for a "
        "classifier). Runs in this process unless --ray or --ray-address is "
        "given (then on Ray Data: a Swift pool and a Super pool, streaming).",
    )
    predict.add_argument("--model", required=True, help="folder from save_joint")
    predict.add_argument(
        "--input",
        required=True,
        help="input table: .parquet, .jsonl, .csv or .txt. Rows with an empty "
        "text (an empty CSV cell, a blank line) are written as bad rows "
        "(served_by=error). A row_id column, if any, must hold unique ids "
        "without missing values: the output is sorted by it",
    )
    predict.add_argument(
        "--output", required=True, help="output table: .parquet, .jsonl or .csv"
    )
    predict.add_argument(
        "--text-column", default="text", help="column of the inputs (default: text)"
    )
    predict.add_argument(
        "--threshold",
        type=number_arg(None, None, "--threshold"),
        default=None,
        help="routing threshold, a number such as 1.5 or -inf "
        "(default: the model's own)",
    )
    predict.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to run on ('auto', 'ray://host:10001', ...); implies Ray",
    )
    predict.add_argument(
        "--ray",
        action="store_true",
        help="run on a local Ray (as --ray-address local): a Swift pool and a "
        "Super pool, streaming",
    )
    predict.add_argument(
        "--ray-min-rows",
        type=int,
        default=None,
        help="deprecated: use Ray from this many rows on; Ray now runs only when "
        "asked (--ray, --ray-address)",
    )
    predict.add_argument(
        "--verbose",
        action="store_true",
        help="show Ray's own logs (hidden by default)",
    )
    predict.add_argument(
        "--batch-size",
        type=batch_size_arg,
        default=256,
        help="rows per batch of each stage, a positive integer (default: %(default)s)",
    )
    predict.add_argument("--quiet", action="store_true", help="no progress bar")


# Terms of use of the data and weights (not of the packages carrying them),
# from the datasets' own pages and descr/*.rst, and the models' model cards.
_TERMS = {
    "movie_snippets": "research use (Pang & Lee 2005); no licence stated",
    "trec": "research use (Li & Roth 2002); no licence stated",
    "sms_spam": "CC BY 4.0 (UCI repository)",
    "bbc_news": "non-commercial research; articles (c) BBC",
    "uci_sentences": "CC BY 4.0 (UCI repository)",
    "en_ro": "the licences of the local Debian packages (mostly GPL/LGPL)",
    "all-MiniLM-L6-v2": "Apache-2.0",
    "all-mpnet-base-v2": "Apache-2.0",
    "paraphrase-MiniLM-L3-v2": "Apache-2.0",
}


def _describe_dataset(name):
    """Title, size and classes of a dataset, from its descr/<name>.rst."""
    from importlib import resources

    text = resources.files("elang_sk.datasets").joinpath(f"descr/{name}.rst")
    lines = text.read_text(encoding="utf-8").splitlines()
    underline = next(i for i, line in enumerate(lines) if line and set(line) == {"-"})
    title = lines[underline - 1]
    fields = {}
    for line in lines:
        if line.startswith(":") and line.count(":") >= 2:
            key, value = line[1:].split(":", 1)
            fields[key] = value.strip()
    size = fields.get("Number of Instances", "?")
    size = size.split(", ")[-1] if "in all" in size else size
    size = size.split(" (")[0].split(";")[0]
    classes = fields.get("Number of Classes", "").split(" (")[0]
    if classes:
        size = f"{size}; {classes} classes"
    return title, size


def _folder_size(path):
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _list(data_home=None):
    from elang_sk.datasets import DATASETS, PRETRAINED_MODELS, get_data_home

    print("Datasets (elang-sk run --dataset NAME):")
    for name in sorted(DATASETS):
        title, size = _describe_dataset(name)
        print(f"  {name}")
        print(f"      {title}")
        print(f"      size: {size}")
        print(f"      terms: {_TERMS.get(name, 'see the dataset description')}")
    models = os.path.join(get_data_home(data_home), "models")
    print("Pretrained models (elang-sk run --swift NAME --super NAME):")
    for name in sorted(PRETRAINED_MODELS):
        folder = os.path.join(models, name)
        where = (
            f"downloaded, {_folder_size(folder) / 1e6:.0f} MB on disk"
            if os.path.isdir(folder)
            else "not downloaded yet (fetched from PyPI on first use)"
        )
        print(f"  {name}")
        print(f"      {PRETRAINED_MODELS[name].description}")
        print(f"      {where}")
        print(f"      licence: {_TERMS.get(name, 'see the model card')}")


# How to get an optional package that a command found missing.
_INSTALL_HINTS = {
    "matplotlib": "pip install 'elang-sk[plot]', or pass --no-plots",
    "torch": "pip install 'elang-sk[torch]'",
    "transformers": "pip install 'elang-sk[torch]'",
    "tokenizers": "pip install 'elang-sk[torch]'",
    "ray": "pip install 'ray[data]', or leave out --ray-address",
}


# The errors a command expects (a ModelFolderError is a ValueError): one line
# and a non-zero status; anything else is a bug and shows its traceback.
_EXPECTED = (ValueError, OSError, ImportError)


def _print_error(exc):
    print(f"elang-sk: error: {_error_message(exc)}", file=sys.stderr)


def _error_message(exc):
    """One line saying what went wrong and what to do."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ImportError):
        package = (getattr(exc, "name", None) or "").split(".")[0]
        hint = _INSTALL_HINTS.get(package)
        if hint is None and package:
            hint = f"pip install {package}"
        if hint:
            message += f" (an optional dependency: {hint})"
    return message


def _task(args):
    """The task of ``run``, from --task and --dataset; bad combinations refused."""
    task = args.task
    if task == "auto":
        task = "translation" if args.dataset == "en_ro" else "classification"
    if task == "translation":
        if args.dataset not in (None, "en_ro"):
            raise ValueError(
                f"--task translation runs on the English-Romanian pairs (en_ro), "
                f"not --dataset {args.dataset}; leave --dataset out."
            )
        for attr, option, default in _CLASSIFICATION_ONLY:
            if getattr(args, attr) != default:
                raise ValueError(
                    f"{option} does not apply to --task translation: the table "
                    "runs every routing score and threshold rule on the trained "
                    "English-Romanian pair. Leave it out."
                )
    else:
        if args.dataset == "en_ro":
            raise ValueError(
                "en_ro holds translations, not labels: run it with --task "
                "translation (or leave --task out)."
            )
        if args.corpus is not None:
            raise ValueError("--corpus applies to --task translation only.")
    return task


def _run_translation(args):
    from elang_sk._protocol_translation import (
        format_translation_markdown,
        run_translation_protocol,
    )

    libreoffice = args.corpus in (None, "gettext+libreoffice")
    output = args.output
    if output is None:
        output = f"{DEFAULTS['output']}/en_ro__trained_pair" + (
            "" if libreoffice else "_gettext"
        )
    limits = {}
    if args.subsample is not None:
        limits = {"max_dev": args.subsample, "max_test": args.subsample}
    report = run_translation_protocol(
        libreoffice=libreoffice,
        data_home=args.data_home,
        output=output,
        overwrite=args.overwrite,
        plots=not args.no_plots,
        quiet=args.quiet,
        device=args.device,
        batch_size=args.batch_size,
        **limits,
    )
    print(format_translation_markdown(report))
    return 0


def _run(args):
    from elang_sk.datasets import DATASETS

    if _task(args) == "translation":
        return _run_translation(args)
    from elang_sk._protocol import format_markdown, run_protocol

    args.dataset = args.dataset or DEFAULTS["dataset"]
    if args.dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {args.dataset!r}; choose from "
            f"{', '.join(sorted(DATASETS))} (see `elang-sk list`)."
        )
    output = args.output
    if output is None:
        output = default_output(args.dataset, args.swift, args.super_model)
    report = run_protocol(
        dataset=args.dataset,
        swift_model=args.swift,
        super_model=args.super_model,
        score=args.score,
        threshold=args.threshold,
        target=args.target,
        tol=args.tol,
        delta=args.delta,
        distill=args.distill,
        fine_tune_swift=args.fine_tune_swift,
        device=args.device,
        batch_size=args.batch_size,
        max_length=args.max_length,
        data_home=args.data_home,
        output=output,
        overwrite=args.overwrite,
        plots=not args.no_plots,
        quiet=args.quiet,
        retime=args.retime,
        subsample=args.subsample,
        calibration=args.calibration,
    )
    print(format_markdown(report))
    return 0


def _predict(args):
    from elang_sk._cli_predict import check_arguments
    from elang_sk._cli_predict import run as run_predict

    check_arguments(args)  # a bad option: status 2, from main
    try:
        return run_predict(args)
    except _EXPECTED as exc:
        # The data could not be predicted (a damaged model folder, a missing
        # column, bad row ids): status 1, as for rows that fail one by one.
        _print_error(exc)
        return 1


def _serve(args):
    from elang_sk._cli_serve import run as run_serve

    return run_serve(args)


def _list_command(args):
    _list()
    return 0


_COMMANDS = {
    "run": _run,
    "predict": _predict,
    "serve": _serve,
    "list": _list_command,
}


def main(argv=None):
    """Entry point of the ``elang-sk`` command.

    Expected errors (a bad option value, a missing file or folder, a device
    this torch cannot use, a missing optional package) print one line,
    ``elang-sk: error: <message>``, on stderr and exit with status 2, as
    argparse's usage errors do (status 1 when ``predict`` cannot predict the
    data); anything else is a bug and shows its traceback.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success; 2 on an error of the command line (argparse's, a bad
        option value, a missing file or folder, a missing package) and on any
        expected error of ``run``; 1 when ``predict`` could not predict the
        data (some rows, a damaged model folder, a missing column).
    """
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(join_negative_values(argv))
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _COMMANDS[args.command](args)
    except _EXPECTED as exc:
        _print_error(exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
