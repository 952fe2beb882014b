"""Input validation shared by the estimators: rows of inputs, and raw texts."""

import math
from collections.abc import Mapping
from numbers import Integral, Real

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

    Raises
    ------
    ValueError
        If ``y`` is None, has missing labels (None, NaN or an infinite
        number: the message names the rows), is not a classification target,
        or has not one label per input.

    Examples
    --------
    >>> from elang_sk._validation import check_labels
    >>> check_labels(2, ["spam", "ham"], "JointClassifier").tolist()
    ['spam', 'ham']
    >>> check_labels(3, ["spam", None, "ham"], "JointClassifier")
    Traceback (most recent call last):
    ...
    ValueError: y has 1 missing label(s) (None, NaN or infinite) at row(s) [1]: ...
    """
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None: routing "
            "is calibrated on true labels."
        )
    _check_no_missing_labels(y)
    y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    if n != y.shape[0]:
        raise ValueError(
            f"X and y have different lengths: {n} inputs and {y.shape[0]} labels. "
            "Pass one label per input."
        )
    return y


def _is_missing(value):
    """Whether one label is None, NaN (float, pandas NA or NaT) or infinite."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return not np.isfinite(value)
    return _differs_from_itself(value)


def _differs_from_itself(value):
    """NaN-like (float NaN, pd.NaT) or ambiguous (pd.NA): not a usable value."""
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pd.NA: its comparisons are ambiguous
        return True


def _check_no_missing_labels(y):
    """Refuse labels with None, NaN or infinite values, naming their rows.

    Checked on the values as given (an object array): converting first would
    turn a NaN among strings into the string ``'nan'``, and sorting the
    classes would fail on ``None`` with numpy's ``'<' not supported``.
    """
    if isinstance(y, np.ndarray) and y.dtype.kind in "biuUS":
        return
    floats = isinstance(y, np.ndarray) and y.dtype.kind == "f"
    try:
        values = y if floats else np.asarray(y, dtype=object)
    except (TypeError, ValueError):  # ragged: left to column_or_1d
        return
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        return
    if floats:
        missing = ~np.isfinite(values)
    else:
        missing = np.fromiter(map(_is_missing, values), bool, len(values))
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(
            f"y has {rows.size} missing label(s) (None, NaN or infinite) at "
            f"row(s) {rows[:10].tolist()}{' ...' if rows.size > 10 else ''}: every "
            "input needs its true label. Drop these rows from X and y, or fill in "
            "their labels."
        )


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


def check_batch_size(value, name="batch_size"):
    """Validate a batch size: a positive integer (not a bool).

    Parameters
    ----------
    value : object
        The batch size.
    name : str, default="batch_size"
        How the parameter is called (``"--batch-size"`` for the command
        line), for the error message.

    Returns
    -------
    batch_size : int

    Raises
    ------
    ValueError
        If ``value`` is a bool, not an integer, or not positive.

    Examples
    --------
    >>> from elang_sk._validation import check_batch_size
    >>> check_batch_size(64)
    64
    >>> check_batch_size(0, "--batch-size")
    Traceback (most recent call last):
    ...
    ValueError: --batch-size must be a positive integer (rows per batch), got 0: ...
    """
    example = f"{name} 256" if name.startswith("-") else f"{name}=256"
    if isinstance(value, bool | np.bool_) or not isinstance(value, Integral):
        shown = bool(value) if isinstance(value, np.bool_) else value
        raise ValueError(
            f"{name} must be a positive integer (rows per batch), got {shown!r} "
            f"of type {type(value).__name__}. Pass a whole number, e.g. {example}."
        )
    if value <= 0:
        raise ValueError(
            f"{name} must be a positive integer (rows per batch), got {value}: "
            f"a batch needs at least one row. Pass e.g. {example}."
        )
    return int(value)


def check_row_ids(values, name="row_id"):
    """Validate user-given row ids: no missing value, no duplicate.

    The output of a batch prediction is sorted by its row ids: a missing
    id sorts last and duplicates leave the order of their rows to the
    stages, so either would reorder the output silently.

    Parameters
    ----------
    values : array-like of shape (n_rows,)
        The row ids (e.g. the ``row_id`` column of a table).
    name : str, default="row_id"
        The column's name, for the error message.

    Returns
    -------
    values : ndarray of shape (n_rows,)

    Raises
    ------
    ValueError
        If an id is missing (None, NaN, an empty string) or appears more
        than once; the message names the rows.

    Examples
    --------
    >>> from elang_sk._validation import check_row_ids
    >>> check_row_ids([3, 1, 2]).tolist()
    [3, 1, 2]
    >>> check_row_ids([1, 2, 1])
    Traceback (most recent call last):
    ...
    ValueError: The row_id column must hold unique ids, but ...
    """
    if isinstance(values, np.ndarray):
        pass
    elif hasattr(values, "to_numpy"):  # pandas: keep None and NaN as they are
        values = values.to_numpy(dtype=object)
    else:  # a list: no silent conversion of None or NaN to a string
        values = np.asarray(values, dtype=object)
    if values.ndim != 1:
        raise ValueError(
            f"The {name} column must be 1-d, one id per row; got shape {values.shape}."
        )
    if values.dtype.kind == "f":
        missing = np.isnan(values)
    elif values.dtype.kind in "OUS":
        missing = np.fromiter(
            (
                v is None
                or (isinstance(v, str) and not v.strip())  # an empty CSV cell
                or _differs_from_itself(v)
                for v in values
            ),
            bool,
            len(values),
        )
    else:
        missing = np.zeros(len(values), bool)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise ValueError(
            f"The {name} column has {rows.size} missing id(s) (None, NaN or empty) at "
            f"row(s) {rows[:10].tolist()}: the output is sorted by {name}, so "
            f"every row needs an id. Fill them in, or drop the {name} column to "
            "number the rows 0..n-1."
        )
    try:
        _, first, counts = np.unique(values, return_index=True, return_counts=True)
    except TypeError as exc:  # mixed types that do not sort
        raise ValueError(
            f"The {name} column must hold ids of one sortable type (all numbers "
            f"or all strings): {exc}. Drop the {name} column to number the rows "
            "0..n-1."
        ) from None
    if (counts > 1).any():
        repeated = values[np.sort(first[counts > 1])]
        rows = np.flatnonzero(np.isin(values, repeated))
        raise ValueError(
            f"The {name} column must hold unique ids, but {repeated.size} id(s) "
            f"appear more than once (first: {repeated[:5].tolist()}, at rows "
            f"{rows[:10].tolist()}): the output is sorted by {name}. Make them "
            f"unique, or drop the {name} column to number the rows 0..n-1."
        )
    return values


def check_threshold_value(threshold):
    """``float(threshold)`` for a number; a clear error for NaN and booleans.

    Examples
    --------
    >>> from elang_sk._validation import check_threshold_value
    >>> check_threshold_value(2)
    2.0
    >>> check_threshold_value(True)
    Traceback (most recent call last):
    ...
    ValueError: threshold=True is not a routing threshold: ...
    """
    if (
        isinstance(threshold, bool | np.bool_)
        or not isinstance(threshold, Real)
        or math.isnan(threshold)
    ):
        raise ValueError(
            f"threshold={threshold!r} is not a routing threshold: give a number "
            "(-inf keeps every input at that stage, inf passes every input on), "
            "a strategy name such as 'crossing', or a ThresholdSelector."
        )
    return float(threshold)


def check_cost_value(key, value):
    """A clear error unless ``costs[key]`` is a finite non-negative number.

    Examples
    --------
    >>> from elang_sk._validation import check_cost_value
    >>> check_cost_value("super", -1)
    Traceback (most recent call last):
    ...
    ValueError: costs['super'] must be a finite non-negative number; got -1.
    """
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, Real)
        or not 0 <= value < np.inf
    ):
        raise ValueError(
            f"costs[{key!r}] must be a finite non-negative number; got {value!r}."
        )


def check_state_keys(state, keys, owner):
    """``state`` if it is a dict with exactly ``keys``; a clear error otherwise."""
    if not isinstance(state, dict):
        raise TypeError(f"A fitted state is a dict; got {type(state).__name__}.")
    unknown, missing = set(state) - set(keys), set(keys) - set(state)
    if unknown or missing:
        raise ValueError(
            f"The fitted state of a {owner} has the keys {list(keys)}; this one "
            f"has unknown keys {sorted(unknown)} and lacks {sorted(missing)}."
        )
    return state
