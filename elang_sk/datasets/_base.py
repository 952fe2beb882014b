"""The data home, the fixed train/dev/test split and the dataset descriptions.

Everything :mod:`elang_sk.datasets` downloads or parses is kept in one folder,
the data home; :mod:`~elang_sk.datasets._archives` fetches and reads the
registry files there and :mod:`~elang_sk.datasets._cache` keeps the parsed
datasets.
"""

import os
import shutil
from importlib import resources
from os.path import expanduser, join

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import validate_params

SUBSETS = ("train", "dev", "test", "all")


@validate_params(
    {"data_home": [str, os.PathLike, None]}, prefer_skip_nested_validation=True
)
def get_data_home(data_home=None):
    """Return the path of the elang_sk data directory.

    Downloaded archives and parsed datasets are kept there so that each
    archive is fetched only once. The folder is `data_home` if given, else
    the ``ELANG_SK_DATA`` environment variable, else ``~/elang_sk_data``.
    A leading ``~`` is expanded. The folder is created if missing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data directory. If None, use ``ELANG_SK_DATA`` or
        ``~/elang_sk_data``.

    Returns
    -------
    data_home : str
        The path of the data directory.

    Raises
    ------
    ValueError
        If the path is an empty string.
    NotADirectoryError
        If the path exists and is not a folder.

    Examples
    --------
    >>> import os, tempfile
    >>> from elang_sk.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = get_data_home(os.path.join(tmp, "elang_data"))
    ...     os.path.isdir(path)
    True
    """
    source = "data_home"
    if data_home is None:
        source = "the ELANG_SK_DATA environment variable"
        data_home = os.environ.get("ELANG_SK_DATA", join("~", "elang_sk_data"))
    data_home = expanduser(os.fspath(data_home))
    if not data_home:
        raise ValueError(
            f"{source} is an empty string; give the path of a folder, or "
            "data_home=None for ~/elang_sk_data."
        )
    if os.path.exists(data_home) and not os.path.isdir(data_home):
        raise NotADirectoryError(
            f"{source} is {data_home!r}, which exists and is not a folder; "
            "give the path of a folder (it is created if missing)."
        )
    os.makedirs(data_home, exist_ok=True)
    return data_home


@validate_params(
    {"data_home": [str, os.PathLike, None]}, prefer_skip_nested_validation=True
)
def clear_data_home(data_home=None):
    """Delete all the content of the data home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data directory, resolved as in :func:`get_data_home`.

    Examples
    --------
    >>> import os, tempfile
    >>> from elang_sk.datasets import clear_data_home, get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = get_data_home(os.path.join(tmp, "elang_data"))
    ...     clear_data_home(path)
    ...     os.path.exists(path)
    False
    """
    shutil.rmtree(get_data_home(data_home))


def split_indices(n_samples, subset, stratify=None):
    """Indices of `subset` in the fixed 60/20/20 train/dev/test split.

    The split is two calls to :func:`~sklearn.model_selection.train_test_split`
    with ``random_state=0``: 20% of the samples are held out as test, then 25%
    of the rest as dev. With `stratify` (the class labels) both calls are
    stratified. The result depends only on `n_samples` and `stratify`, so it
    is the same on every machine. ``subset="all"`` returns ``arange(n)``.
    """
    indices = np.arange(n_samples)
    if subset == "all":
        return indices
    stratify = None if stratify is None else np.asarray(stratify)
    rest, test = train_test_split(
        indices, test_size=0.2, random_state=0, stratify=stratify
    )
    train, dev = train_test_split(
        rest,
        test_size=0.25,
        random_state=0,
        stratify=None if stratify is None else stratify[rest],
    )
    return {"train": train, "dev": dev, "test": test}[subset]


def load_descr(name):
    """Return the text of ``descr/<name>.rst`` shipped with the package."""
    path = resources.files("elang_sk.datasets") / "descr" / f"{name}.rst"
    return path.read_text(encoding="utf-8")
