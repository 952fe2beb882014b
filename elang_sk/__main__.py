"""Command line: ``elang-sk run`` (also ``python -m elang_sk run``)."""

import argparse
import sys

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
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--max-length", type=int, default=128)
    run.add_argument(
        "--data-home",
        default=None,
        help="data, model and cache folder (default: $ELANG_SK_DATA "
        "or ~/elang_sk_data)",
    )
    run.add_argument(
        "--output", default="elang_output", help="report folder (default: %(default)s)"
    )
    run.add_argument("--no-plots", action="store_true")
    run.add_argument("--quiet", action="store_true", help="no progress messages")
    run.add_argument(
        "--retime",
        action="store_true",
        help="measure the timings again instead of reusing stored ones",
    )
    commands.add_parser("list", help="list the datasets and pretrained models")
    return parser


def main(argv=None):
    """Entry point of the ``elang-sk`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "list":
        from elang_sk.datasets import DATASETS, PRETRAINED_MODELS

        print("datasets:", ", ".join(sorted(DATASETS)))
        print("pretrained models:", ", ".join(sorted(PRETRAINED_MODELS)))
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
        )
    except (OSError, ValueError, ImportError) as exc:
        print(f"elang-sk: error: {exc}", file=sys.stderr)
        return 1
    print(format_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
