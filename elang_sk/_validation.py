"""Input validation shared by the estimators that take raw text."""

import numpy as np


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
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise TypeError(
            f"{name} must be a 1-d sequence of texts; got an array of shape {X.shape}."
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
    return texts
