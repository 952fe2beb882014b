"""Input validation shared by the estimators that take raw text."""

from collections.abc import Mapping


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
