"""Small helpers that every layer shares: one of each.

``n_samples`` (rows of any input), ``is_fitted`` and ``has_features`` (what a
sub-model is), ``progress_bar`` (the package's one progress bar).
"""

import sys

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted


def n_samples(values):
    """Number of rows of an array, sparse matrix or sequence."""
    return values.shape[0] if hasattr(values, "shape") else len(values)


def is_fitted(estimator):
    """Whether ``estimator`` is fitted (pre-trained), as scikit-learn decides it."""
    if not isinstance(estimator, BaseEstimator) and not hasattr(
        estimator, "__sklearn_is_fitted__"
    ):
        # A plain object with predict (a user's wrapper) is used as given.
        return True
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def has_features(estimator):
    """Whether frozen features can be read off the estimator for an energy head."""
    if isinstance(estimator, Pipeline):
        return len(estimator.steps) > 1
    return hasattr(estimator, "transform")


def progress_bar(n_chunks, n, progress):
    """A tqdm bar over ``n`` inputs, or None; see ``BaseJoint.serving_progress``.

    The one progress bar of the package: shown with ``progress=True``, or
    with ``"auto"`` when there are several chunks and stderr is a terminal.
    """
    if progress is False or (progress is not True and n_chunks < 2):
        return None
    if progress == "auto":
        try:
            if not sys.stderr.isatty():
                return None
        except (AttributeError, ValueError):  # a closed or replaced stderr
            return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=n, unit="input", leave=False)
