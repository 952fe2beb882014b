"""Command line: ``elang-sk run``, ``elang-sk predict`` (or ``python -m elang_sk``)."""

import argparse
import contextlib
import os
import sys

from elang_sk._cli_predict import add_parser as add_predict_parser
from elang_sk._cli_predict import batch_size_arg
from elang_sk._protocol import DEFAULTS


def _parser():
    parser = argparse.ArgumentParser(
        prog="elang-sk",
        description="E-LANG: route inputs between a small Swift and a large Super "
        "model by the Swift's energy.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run the full protocol (train, dev, test) and write a report",
        description="Fit Swift and Super on the train split, the joint model on "
        "dev, evaluate on test; print Table-1 and Table-2 style results and write "
        "report.json, report.md and plots. Everything is cached in the data home: "
        "a second run takes seconds.",
    )
    run.add_argument(
        "--dataset",
        default=DEFAULTS["dataset"],
        help="dataset name (default: %(default)s; see `elang-sk list`)",
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
        choices=["energy", "softmax", "entropy", "random"],
        help="routing score (default: %(default)s)",
    )
    run.add_argument(
        "--threshold",
        default=DEFAULTS["threshold"],
        choices=["crossing", "match_super"],
        help="threshold strategy, chosen on dev (default: %(default)s)",
    )
    run.add_argument(
        "--tol",
        type=float,
        default=DEFAULTS["tol"],
        help="accuracy tolerance of match_super (default: %(default)s)",
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
        help="auto, cpu, cuda, cuda:1, ... (default: %(default)s)",
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
        type=int,
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
        "--output", default="elang_output", help="report folder (default: %(default)s)"
    )
    run.add_argument(
        "--no-plots",
        action="store_true",
        help="skip tradeoff.png and score_distribution.png (no matplotlib needed)",
    )
    run.add_argument(
        "--calibration",
        choices=("dev", "cross-fit"),
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
    commands.add_parser(
        "list",
        help="list the datasets and pretrained models",
        description="List the datasets and pretrained models that `elang-sk run` "
        "can fetch, with their sizes, descriptions and terms of use.",
    )
    add_predict_parser(commands)
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


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


@contextlib.contextmanager
def _quiet_transformers():
    """Hide transformers' own progress bars ("Loading weights") while it runs.

    They would interleave with the command's progress lines; the state is
    restored afterwards.
    """
    try:
        from transformers.utils import logging
    except ImportError:
        yield
        return
    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def _predict(args):
    from elang_sk._cli_predict import run as run_predict
    from elang_sk._persist import ModelFolderError

    try:
        return run_predict(args)
    except (OSError, ValueError, ImportError, ModelFolderError) as exc:
        print(f"elang-sk: error: {exc}", file=sys.stderr)
        return 1


def main(argv=None):
    """Entry point of the ``elang-sk`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "predict":
        return _predict(args)
    if args.command == "list":
        _list()
        return 0
    from elang_sk._protocol import format_markdown, run_protocol
    from elang_sk.datasets import DATASETS

    if args.dataset not in DATASETS:
        print(
            f"elang-sk: error: unknown dataset {args.dataset!r}; choose from "
            f"{', '.join(sorted(DATASETS))}.",
            file=sys.stderr,
        )
        return 2
    try:
        with _quiet_transformers():
            report = run_protocol(
                dataset=args.dataset,
                swift_model=args.swift,
                super_model=args.super_model,
                score=args.score,
                threshold=args.threshold,
                tol=args.tol,
                distill=args.distill,
                fine_tune_swift=args.fine_tune_swift,
                device=args.device,
                batch_size=args.batch_size,
                max_length=args.max_length,
                data_home=args.data_home,
                output=args.output,
                plots=not args.no_plots,
                quiet=args.quiet,
                retime=args.retime,
                subsample=args.subsample,
                calibration=args.calibration,
            )
    except (OSError, ValueError, ImportError) as exc:
        print(f"elang-sk: error: {exc}", file=sys.stderr)
        return 1
    print(format_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
