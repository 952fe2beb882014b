"""Short ``repr`` of estimators that hold loaded models.

A loaded transformers model or tokenizer prints as its whole module tree or
vocabulary. Estimators that take such objects as parameters show a short
stand-in instead: the class name and, when known, the name or path it was
loaded from.
"""

import copy
import os

from sklearn.base import BaseEstimator


class ShortObjectRepr:
    """Stand-in printed instead of a large object: ``Class('name_or_path')``.

    Parameters
    ----------
    obj : object
        The object to name; its ``name_or_path`` attribute is shown when set.

    Examples
    --------
    >>> from elang_sk._repr import ShortObjectRepr
    >>> ShortObjectRepr(object())
    object
    """

    def __init__(self, obj):
        name = getattr(obj, "name_or_path", "") or ""
        self.text = f"{type(obj).__name__}({name!r})" if name else type(obj).__name__

    def __repr__(self):
        return self.text


def repr_with_short_objects(estimator, names, N_CHAR_MAX=700):
    """``repr`` of an estimator with the parameters ``names`` shown short.

    Parameters that hold a str or a path are shown as they are; any other
    non-None value is shown as a :class:`ShortObjectRepr`.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator to print; it is not modified.
    names : iterable of str
        Parameters that may hold large objects (models, tokenizers).
    N_CHAR_MAX : int, default=700
        As in :meth:`sklearn.base.BaseEstimator.__repr__`.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk._repr import repr_with_short_objects
    >>> clf = LogisticRegression(C=2.0)
    >>> clf.random_state = object()
    >>> repr_with_short_objects(clf, ["random_state"])
    'LogisticRegression(C=2.0, random_state=object)'
    """
    shown = copy.copy(estimator)
    for name in names:
        value = getattr(estimator, name)
        if value is not None and not isinstance(value, str | os.PathLike):
            setattr(shown, name, ShortObjectRepr(value))
    return BaseEstimator.__repr__(shown, N_CHAR_MAX=N_CHAR_MAX)
