"""Train the reproducible English-Romanian Swift/Super translation pair.

The training itself lives in the package (:mod:`elang_sk.datasets._en_ro_pair`,
:func:`elang_sk.datasets.fetch_en_ro_pair`; its module docstring describes the
folder, the checkpoints and the splits); this script runs it with a deadline
and a choice of epochs, and prints one line per epoch.

Run from the repository root (about 75 min on one CPU thread for the default
corpus, the machine's gettext catalogs plus LibreOffice's)::

    nice -n 19 python benchmarks/train_en_ro_pair.py --libreoffice \\
        --deadline 2026-12-02T07:05 > train.log 2>&1 &

``elang-sk run --task translation`` trains the same pair when it is missing.
Uses CUDA when available, else the CPU with one thread (``--threads``).
"""

import argparse
import datetime
import sys

from elang_sk.datasets._en_ro_pair import TRAINING, train_pair


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--epochs", type=int, default=None, help="Super epochs")
    parser.add_argument("--swift-epochs", type=int, default=None)
    parser.add_argument("--models", default="swift,super")
    parser.add_argument("--vocab-size", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--libreoffice",
        action="store_true",
        help="add LibreOffice's Romanian catalogs (en_ro_pair_libreoffice)",
    )
    parser.add_argument(
        "--deadline", default=None, help="ISO time (UTC); no epoch ends after it"
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    training = {k: dict(v) for k, v in TRAINING.items()}
    if args.epochs:
        training["super"]["epochs"] = args.epochs
    if args.swift_epochs:
        training["swift"]["epochs"] = args.swift_epochs
    deadline = None
    if args.deadline:
        when = datetime.datetime.fromisoformat(args.deadline)
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        deadline = when.timestamp()
    root = train_pair(
        args.data_home,
        training=training,
        vocab_size=args.vocab_size,
        deadline=deadline,
        models=tuple(args.models.split(",")),
        log=lambda *a: print(*a, flush=True),
        libreoffice=args.libreoffice,
    )
    print(f"pair in {root}", file=sys.stderr)


if __name__ == "__main__":
    main()
