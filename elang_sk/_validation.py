"""Input validation shared by the estimators: rows of inputs, and raw texts."""

from collections.abc import Mapping

import numpy as np
from scipy import sparse
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d


def check_samples(X, models="the sub-models"):
    """Check what a meta-estimator needs of ``X``: a non-empty indexable sequence.

    Everything else is for the sub-models to check, in their own terms, so
    that any ``X`` they accept passes through (texts, arrays, sparse matrices,
    DataFrames, lists of dicts, token ids). Counting rows does not go through
    :func:`sklearn.utils.validation._num_samples`, whose dataframe detection
    costs more than a small serving call.

    Parameters
    ----------
    X : object
        The inputs.
    models : str, default="the sub-models"
        What takes ``X``, for the error message.

    Returns
    -------
    X : object
        ``X`` itself; a sparse matrix as CSR or CSC and an array-like without
        row indexing as an ndarray, so that rows can be taken.

    Examples
    --------
    >>> from elang_sk._validation import check_samples
    >>> check_samples([{"a": 1.0}, {"b": 2.0}])
    [{'a': 1.0}, {'b': 2.0}]
    """
    if isinstance(X, str | bytes):
        raise TypeError(
            "X must be a sequence of inputs, got a single string. Wrap it in a "
            "list: [text]."
        )
    if sparse.issparse(X):  # before Mapping: a DOK matrix is a dict
        X = X if X.format in ("csr", "csc") else X.tocsr()  # row indexing
    elif isinstance(X, Mapping):
        raise TypeError(
            "X is a dict: its keys would be read as the inputs. Pass a sequence "
            "of inputs (a list of str, a list of dicts for a DictVectorizer, an "
            "array or a DataFrame)."
        )
    elif not hasattr(X, "__getitem__") and hasattr(X, "__array__"):
        X = np.asarray(X)  # array-likes without row indexing
    shape = getattr(X, "shape", None)
    try:
        n = shape[0] if shape is not None and len(shape) else len(X)
        if not hasattr(X, "__getitem__"):
            raise TypeError("no row indexing")
    except TypeError as exc:
        raise TypeError(
            f"X must be a sequence of inputs that {models} take (a list, an "
            "array, a sparse matrix or a DataFrame), with a length and row "
            f"indexing; got {type(X).__name__}."
        ) from exc
    if n == 0:
        raise ValueError("X is empty: at least one input is needed, got 0.")
    return X


def check_labels(n, y, owner):
    """Validate classification labels for ``n`` inputs of a meta-estimator.

    Parameters
    ----------
    n : int
        Number of inputs.
    y : array-like of shape (n,)
        The labels.
    owner : str
        The estimator's name, for the error message.

    Returns
    -------
    y : ndarray of shape (n,)

    Examples
    --------
    >>> from elang_sk._validation import check_labels
    >>> check_labels(2, ["spam", "ham"], "JointClassifier").tolist()
    ['spam', 'ham']
    """
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None: routing "
            "is calibrated on true labels."
        )
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    if n != y.shape[0]:
        raise ValueError(
            f"X and y have different lengths: {n} inputs and {y.shape[0]} labels. "
            "Pass one label per input."
        )
    return y


def check_texts(X, name="X", *, allow_empty_strings=True, hint=""):
    """Validate a non-empty 1-D sequence of str and return it as a list.

    Parameters
    ----------
    X : sequence of str
        The texts (list, tuple, 1-D array or pandas Series).
    name : str, default="X"
        How the argument is called in error messages.
    allow_empty_strings : bool, default=True
        Whether texts that are empty (or only whitespace) are accepted.
    hint : str, default=""
        Appended to the message about a non-text element.

    Returns
    -------
    texts : list of str

    Raises
    ------
    TypeError
        If ``X`` is a single string, a 2-D table (array, DataFrame), a mapping,
        not a sequence, or holds something else than str.
    ValueError
        If ``X`` is empty, holds a text that cannot be encoded as UTF-8 (a lone
        surrogate) or, with ``allow_empty_strings=False``, an empty text.

    Examples
    --------
    >>> from elang_sk._validation import check_texts
    >>> check_texts(("a film", "a play"))
    ['a film', 'a play']
    """
    if isinstance(X, str | bytes):
        raise TypeError(
            f"{name} must be a sequence of texts, got a single string (str). Wrap "
            "it in a list: [text]."
        )
    if isinstance(X, Mapping):
        raise TypeError(
            f"{name} must be a 1-d sequence of texts, got a {type(X).__name__}: "
            "iterating it would give its keys, not texts. Pass the texts as a "
            "list, e.g. list(mapping.values())."
        )
    ndim = getattr(X, "ndim", 1)
    if ndim != 1:
        table = hasattr(X, "columns")
        what = "a table (DataFrame)" if table else "an array"
        shape = getattr(X, "shape", None)
        fix = " Pass one column of texts, e.g. df['text']." if table else ""
        raise TypeError(
            f"{name} must be a 1-d sequence of texts; got {what} of shape {shape}.{fix}"
        )
    if not hasattr(X, "__len__") or not hasattr(X, "__getitem__"):
        raise TypeError(
            f"{name} must be a sequence of texts (list, array or Series), got "
            f"{type(X).__name__}."
        )
    texts = X.tolist() if hasattr(X, "tolist") else list(X)
    if len(texts) == 0:
        raise ValueError(f"{name} is empty: at least one text is needed, got 0.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{name} must contain only texts (str): {name}[{i}] is {text!r:.40} "
                f"of type {type(text).__name__}.{hint}"
            )
        if not allow_empty_strings and not text.strip():
            raise ValueError(
                f"{name}[{i}] is an empty string: there is nothing to translate "
                "or compare. Drop empty texts before calling."
            )
        if not text.isascii():
            _check_encodable(text, f"{name}[{i}]")
    return texts


def _check_encodable(text, where):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start : error.end]
        raise ValueError(
            f"{where} cannot be encoded as UTF-8: it holds the lone surrogate "
            f"{bad!r} at position {error.start} (text decoded with "
            "errors='surrogateescape' or cut in the middle of a character). "
            "Replace it, e.g. text.encode('utf-8', 'replace').decode('utf-8')."
        ) from None
