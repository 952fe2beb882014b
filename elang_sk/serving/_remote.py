"""RemoteClassifier: a model served by ``elang-sk serve``, used as a local stage.

A :class:`RemoteClassifier` is a scikit-learn classifier whose ``predict``
and ``predict_proba`` are answered by another machine over HTTP, with the
protocol of :func:`~elang_sk.serving.create_app` (``POST /v1/predict``,
``GET /v1/model``). It can be the Super (or any stage) of a
:class:`~elang_sk.JointClassifier` or :class:`~elang_sk.CascadeClassifier`.

**Pre-trained, always fitted.** The model lives on the server: there is
nothing to train here, so :func:`sklearn.utils.validation.check_is_fitted`
passes from construction on (``__sklearn_is_fitted__`` returns True and the
``requires_fit`` tag is False), exactly as for any pre-trained sub-model. A
joint model therefore uses it as given and calibrates on *all* of its
``fit`` data, instead of cloning it and "training" it on a split, which
would only waste calibration rows. ``classes_`` is read from the server's
model card on first use (and kept); :meth:`RemoteClassifier.fit` is
optional: it refreshes the card, checks ``y`` against the remote classes
and records ``n_features_in_`` for numeric inputs.

**Requests.** Rows go ``batch_size`` per request, up to ``max_concurrency``
requests at once over one pooled :class:`httpx.Client`; answers come back in
input order. Connection errors, timeouts and HTTP 429/502/503/504 are retried
``max_retries`` times with exponential backoff and jitter, waiting what a
``Retry-After`` header of a 429/503 asks (both capped at ``MAX_WAIT_S`` (30 s));
a 413 splits the request in halves (and, when the server says it is its
``max_inputs``, later requests are kept that small). Any other 4xx is the
caller's error: :class:`ValueError` with the server's message, no retry.
When the attempts run out, or on another 5xx, :class:`RemoteStageError`.
Inside a server built by :func:`~elang_sk.serving.create_app` that error is a
failed stage: with ``on_stage_error="fallback"`` the front server answers
those rows with the stage before (``served_by="swift_fallback"``).

**Output cache.** :meth:`RemoteClassifier.elang_fingerprint` reads the model
card anew at every call (one ``GET /v1/model``; the output cache asks once
per ``fit``/``predict`` of a joint model with a ``memory``) and hashes the
URL with the card's estimator, stages, classes, calibration summary, current
thresholds and ``fingerprint``. A server built by
:func:`~elang_sk.serving.create_app` gives there the content fingerprint of
the served model (:func:`elang_sk._fingerprint.fingerprint`: parameters and
every weight, computed once when the app is made, plus, at every card
request, the fingerprints of its own remote stages): a refit, retrained,
recalibrated or re-thresholded remote model gets a new fingerprint, so cached
outputs are not reused for it, even when only its weights changed. A card
whose ``fingerprint`` is null (the server could not compute it, e.g. its own
remote stage is down) raises :class:`RemoteStageError` instead of naming the
model without it. A server that gives no ``fingerprint`` at all (an older
elang_sk, another implementation of the protocol) is named by its parameters
and calibration statistics only: one retrained with the same parameters, the
same accuracies on the calibration data and the same given costs would keep
its fingerprint. A back server with an adaptive operating point changes its
answers with its load, and rows its Super could not answer in time come back
answered by its Swift: caching them keeps the answers given at that moment.

**Credentials.** ``headers`` are sent as given; ``header_env`` names, per
header, an environment variable read at every request (never stored). Saving
(``save_joint``, skops) refuses a literal header whose name looks like a
credential (``Authorization``, ``Cookie``, ``X-Api-Key``, any name with
``auth``, ``token``, ``secret``, ``key``, ``passw``, ``credential``,
``session`` or ``cookie``): the error names it and says to pass it through
``header_env``. Pickling (``copy``, multiprocessing, joblib) keeps the
headers as given, as it keeps every parameter: a pickle file holds them.

**Saving.** ``save_joint`` stores it with skops like any scikit-learn model:
its parameters (environment-variable names, not their values) and the card it
last read (``classes_`` then needs no request after ``load_joint``); the HTTP
client is never saved nor pickled.
"""

import copyreg
import hashlib
import json
import math
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from numbers import Integral, Real
from urllib.parse import urlsplit

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

#: HTTP statuses that are retried: the server is busy, restarting or slow.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Longest wait between two attempts, in seconds (backoff or ``Retry-After``).
MAX_WAIT_S = 30.0
# The parts of the model card that name the served model (not its live state).
_CARD_KEYS = ("estimator", "task", "stages", "classes", "calibration", "fingerprint")
# Per-process state, never saved, pickled, cloned or compared.
_RUNTIME_KEYS = ("_client", "_http_lock", "_max_rows")
# Header names that look like credentials: never saved literally.
_CREDENTIAL = re.compile(
    r"auth|cookie|token|secret|key|passw|credential|session", re.IGNORECASE
)
# An environment variable name (POSIX portable set).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RemoteStageError(RuntimeError):
    """A remote model did not answer: unreachable, overloaded or failing.

    Raised by :class:`RemoteClassifier` when the attempts allowed by
    ``max_retries`` are spent on connection errors, timeouts or HTTP
    429/502/503/504, or at once on another server error (5xx). A server
    built by :func:`~elang_sk.serving.create_app` treats it as a failed
    stage (``on_stage_error="fallback"`` answers with the stage before).

    Parameters
    ----------
    url : str
        The address that was called.
    status : int or None
        The last HTTP status; None when no answer came (connection error,
        timeout).
    message : str
        The server's message (its ``{"error": ...}``), or what went wrong.
    attempts : int
        Requests made.

    Attributes
    ----------
    url, status, server_message, attempts
        As given.

    Examples
    --------
    >>> from elang_sk.serving._remote import RemoteStageError
    >>> err = RemoteStageError("http://10.0.0.5:8000/v1/predict", 503,
    ...                        "The server is overloaded", 4)
    >>> isinstance(err, RuntimeError), err.status
    (True, 503)
    >>> print(str(err)[:60])
    The remote model at http://10.0.0.5:8000/v1/predict did not
    >>> "after 4 attempts (HTTP 503: The server is overloaded)" in str(err)
    True
    """

    def __init__(self, url, status, message, attempts):
        self.url = url
        self.status = status
        self.server_message = message
        self.attempts = attempts
        what = message if status is None else f"HTTP {status}: {message}"
        base = url.rsplit("/v1/", 1)[0]
        super().__init__(
            f"The remote model at {url} did not answer after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} ({what}). Check that "
            f"`elang-sk serve` runs there and is reachable (GET {base}/readyz), "
            "or raise timeout_s / max_retries, or send less at once "
            "(batch_size, max_concurrency). A joint model served with "
            "on_stage_error='fallback' answers these rows with the stage before."
        )


class _TooLarge(Exception):
    """HTTP 413: the request has too many rows, or too large a row."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _import_httpx():
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - part of the serve extra
        raise ImportError(
            "RemoteClassifier needs httpx: pip install httpx (or pip install "
            "'elang_sk[serve]')."
        ) from exc
    return httpx


def _number(name, value, *, kind=Real, low=0.0, strict=True):
    ok = (
        isinstance(value, kind)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > low if strict else value >= low)
    )
    if not ok:
        bound = f"> {low:g}" if strict else f">= {low:g}"
        kind_name = "an integer" if kind is Integral else "a number"
        raise ValueError(f"{name} must be {kind_name} {bound}; got {value!r}.")


def _base_url(url):
    """The server's address, checked, without a trailing slash."""
    if not isinstance(url, str):
        raise TypeError(
            f"url must be a str such as 'http://10.0.0.5:8000'; got "
            f"{type(url).__name__}."
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"url={url!r} is not an http(s) address: give the address of an "
            "`elang-sk serve` server, e.g. 'http://10.0.0.5:8000'."
        )
    if parts.query or parts.fragment:
        raise ValueError(f"url={url!r}: give the server's address, no query.")
    path = parts.path.rstrip("/")
    for endpoint in ("/v1/predict", "/v1/model"):
        if path.endswith(endpoint):
            raise ValueError(
                f"url={url!r} names an endpoint: give the server's address "
                f"without {endpoint!r}."
            )
    return f"{parts.scheme}://{parts.netloc}{path}"


def _payload_rows(X):
    """The inputs as the protocol sends them: texts, or rows of floats."""
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            "RemoteClassifier sends feature rows as JSON: densify the sparse "
            "matrix first (X.toarray())."
        )
    if isinstance(X, str | bytes):
        raise TypeError("X is a single str: pass a list of texts.")
    if isinstance(X, list | tuple) and all(isinstance(x, str) for x in X):
        return list(X)
    try:
        array = np.asarray(X)
    except ValueError as exc:  # ragged rows
        raise ValueError(
            f"X cannot be read as inputs ({exc}): give a sequence of texts (str) "
            "or a 2-D array of numbers."
        ) from None
    if array.shape[:1] == (0,):
        return []
    if array.ndim == 1 and array.dtype.kind in "OU":
        texts = array.tolist()
        bad = next((i for i, x in enumerate(texts) if not isinstance(x, str)), None)
        if bad is None:
            return texts
        raise ValueError(
            f"X[{bad}] is a {type(texts[bad]).__name__}: a remote text model "
            "takes every input as a str."
        )
    if array.ndim == 2 and array.dtype.kind in "biufO":
        try:
            rows = array.astype(float)
        except (TypeError, ValueError):
            rows = None
        if rows is not None:
            if not np.isfinite(rows).all():
                raise ValueError(
                    "X holds a NaN or an infinity: the server takes finite "
                    "feature rows."
                )
            return rows.tolist()
    raise ValueError(
        f"X has shape {array.shape} and dtype {array.dtype}: give a sequence of "
        "texts (str) or a 2-D array of numbers (one row per input)."
    )


def _server_message(reply):
    try:
        body = reply.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    text = reply.text.strip()
    return text[:300] if text else reply.reason_phrase


def _retry_after(reply):
    """Seconds a ``Retry-After`` header asks for, or None."""
    value = reply.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - time.time()
    return seconds if math.isfinite(seconds) else None


def _credential_names(headers):
    """The names in ``headers`` that look like credentials, in order."""
    if not isinstance(headers, dict):
        return []
    return [k for k in headers if isinstance(k, str) and _CREDENTIAL.search(k)]


def _check_header_env(header_env, headers):
    if header_env is None:
        return
    if not isinstance(header_env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in header_env.items()
    ):
        raise ValueError(
            "header_env must be None or a dict of header name to environment "
            "variable name, e.g. {'Authorization': 'ELANG_SK_REMOTE_AUTH'}."
        )
    for header, name in header_env.items():
        if not _ENV_NAME.fullmatch(name):
            # The value is not echoed: it may be the secret given by mistake.
            raise ValueError(
                f"header_env[{header!r}] is not an environment variable name "
                "(letters, digits and _, not starting with a digit): give the "
                "name of the variable that holds the header's value, not the "
                "value."
            )
    both = {k.lower() for k in header_env} & {k.lower() for k in headers or {}}
    if both:
        raise ValueError(
            f"The headers {sorted(both)} are in both headers and header_env: "
            "give each header once."
        )


class RemoteClassifier(ClassifierMixin, BaseEstimator):
    """A classifier served by ``elang-sk serve`` on another machine.

    Its ``predict`` and ``predict_proba`` call ``POST /v1/predict`` of the
    server at ``url``, in batches of ``batch_size`` rows, with up to
    ``max_concurrency`` requests at once, retrying transient failures. It is
    pre-trained (always fitted): a joint model uses it as given, e.g. as its
    Super. ``classes_`` comes from the server's model card (``GET
    /v1/model``), read on first use.

    Parameters
    ----------
    url : str
        Address of the server, e.g. ``"http://10.0.0.5:8000"`` (a path
        prefix behind a proxy is kept).
    timeout_s : float, default=30.0
        Longest wait for one request (connect, send, answer, a free pooled
        connection); also sent as the request's ``timeout_ms``, so that the
        server stops working on it when this client stops waiting.
    max_retries : int, default=3
        Retries of a request after a connection error, a timeout or HTTP
        429/502/503/504.
    backoff_s : float, default=0.1
        First wait before a retry; doubled at each retry, with jitter (a
        uniform factor in [0.5, 1]), capped at ``MAX_WAIT_S`` (30 s). A 429 or
        503 with ``Retry-After`` waits what it says instead (capped too).
    batch_size : int, default=64
        Rows per request. A 413 (more than the server's ``max_inputs``) splits
        the request; later requests then stay under that size.
    max_concurrency : int, default=4
        Requests in flight at once: the size of the connection pool, shared
        by every call of this object (threads included).
    headers : dict of str to str, default=None
        Extra HTTP headers sent as given (e.g. ``{"X-Team": "search"}``).
        Their values are masked in this object's ``repr``, and so in the
        model card of a server that uses it as a stage; the ``repr`` of an
        estimator holding it (scikit-learn prints nested parameters itself)
        shows them. Saving (``save_joint``) refuses a name that looks like a
        credential (``Authorization``, ``Cookie``, ``X-Api-Key``, anything
        with ``auth``, ``token``, ``secret``, ``key``, ``passw``,
        ``credential``, ``session`` or ``cookie``, in any case): give those
        through ``header_env``.
    header_env : dict of str to str, default=None
        Headers whose values are read from environment variables at every
        request: header name to variable name, e.g. ``{"Authorization":
        "ELANG_SK_REMOTE_AUTH"}`` with ``ELANG_SK_REMOTE_AUTH="Bearer ..."``
        set where the requests are made. Only the variable names are kept,
        shown and saved; a variable that is not set (or empty) when a request
        is made raises :class:`RuntimeError` naming it, before anything is
        sent. A header may not be in both ``headers`` and ``header_env``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The remote model's classes, from its model card; the columns of
        ``predict_proba``.
    n_features_in_ : int
        Number of features of the numeric rows given to :meth:`fit` (set only
        by :meth:`fit`, only for numeric inputs).

    See Also
    --------
    elang_sk.serving.create_app : the server it calls.
    RemoteStageError : raised when the server does not answer.

    Notes
    -----
    The answers are the served model's, under its operating point and its
    own ``on_stage_error``: rows its Super could not answer in time may come
    back answered by its Swift (its ``served_by="swift_fallback"``), as they
    would to any client of that server.

    The model card and the HTTP client are kept per object (not parameters):
    ``clone`` and ``set_params`` give an object that reads the card again,
    and pickling or saving keeps the card but never the client. See the
    module docstring for the fingerprint used by the output cache and its
    limits.

    Examples
    --------
    A served joint model (a small one here, on a free local port) and a
    client for it:

    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from elang_sk import JointClassifier
    >>> from elang_sk.serving import ServerThread, create_app
    >>> from elang_sk.serving._remote import RemoteClassifier
    >>> X, y = make_classification(n_samples=600, random_state=0)
    >>> served = JointClassifier(
    ...     LogisticRegression(C=0.01).fit(X[:200], y[:200]),
    ...     LogisticRegression().fit(X[:200], y[:200]), router="softmax",
    ... ).fit(X[200:400], y[200:400])
    >>> with ServerThread(create_app(served)) as server:
    ...     remote = RemoteClassifier(server.url, batch_size=32)
    ...     same = bool((remote.predict(X[400:]) == served.predict(X[400:])).all())
    ...     local = JointClassifier(
    ...         LogisticRegression(C=0.001).fit(X[:200], y[:200]), remote,
    ...         router="softmax",
    ...     ).fit(X[200:400], y[200:400])
    ...     labels = local.predict(X[400:405])
    >>> same, remote.classes_.tolist(), labels.shape
    (True, [0, 1], (5,))

    A credential is passed by the name of an environment variable, read at
    every request, never stored:

    >>> import os
    >>> authed = RemoteClassifier(
    ...     "http://10.0.0.5:8000", header_env={"Authorization": "ELANG_SK_REMOTE_AUTH"}
    ... )
    >>> authed.header_env
    {'Authorization': 'ELANG_SK_REMOTE_AUTH'}
    >>> _ = os.environ.pop("ELANG_SK_REMOTE_AUTH", None)
    >>> authed.fit()  # checked before anything is sent
    Traceback (most recent call last):
    ...
    RuntimeError: The environment variable 'ELANG_SK_REMOTE_AUTH' is not set: ...
    """

    def __init__(
        self,
        url,
        *,
        timeout_s=30.0,
        max_retries=3,
        backoff_s=0.1,
        batch_size=64,
        max_concurrency=4,
        headers=None,
        header_env=None,
    ):
        self.url = url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.headers = headers
        self.header_env = header_env

    # -- scikit-learn protocol ------------------------------------------------------

    def __sklearn_is_fitted__(self):
        # Pre-trained: the model lives on the server.
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True  # texts or numeric rows, as served
        tags.input_tags.two_d_array = True
        return tags

    def _state(self):
        state = dict(super().__getstate__())
        for key in _RUNTIME_KEYS:
            state.pop(key, None)
        return state

    def __getstate__(self):
        # skops (save_joint) reads the state here; pickle and copy go through
        # __reduce_ex__ below and keep the headers as given.
        secret = _credential_names(self.headers)
        if secret:
            raise ValueError(
                f"Refusing to save {type(self).__name__}(url={self.url!r}) with "
                f"the literal header(s) {secret}: they look like credentials and "
                "would be written to disk in clear. Pass them by environment "
                "variable instead, read at request time and never saved, e.g. "
                f"header_env={{{secret[0]!r}: 'ELANG_SK_REMOTE_AUTH'}} with "
                "ELANG_SK_REMOTE_AUTH set to the header's value where the model "
                "runs (and drop them from headers)."
            )
        return self._state()

    def __setstate__(self, state):
        state = dict(state)
        state.setdefault("header_env", None)  # saved before header_env existed
        super().__setstate__(state)

    def __reduce_ex__(self, protocol):
        # Pickling and copying (multiprocessing, joblib, copy.deepcopy) keep
        # every parameter as given, the headers included.
        return copyreg.__newobj__, (type(self),), self._state()

    def __repr__(self, N_CHAR_MAX=700):
        shown = [f"url={self.url!r}"]
        defaults = {
            "timeout_s": 30.0,
            "max_retries": 3,
            "backoff_s": 0.1,
            "batch_size": 64,
            "max_concurrency": 4,
        }
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default or type(value) is not type(default):
                shown.append(f"{name}={value!r}")
        if self.headers:
            try:
                masked = ", ".join(f"{key!r}: '***'" for key in self.headers)
            except TypeError:
                masked = "..."
            shown.append(f"headers={{{masked}}}")
        if self.header_env:
            shown.append(f"header_env={self.header_env!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def classes_(self):
        """The remote model's classes (from its model card, read once)."""
        return np.asarray(self._card()["classes"])

    # -- fit ------------------------------------------------------------------------

    def fit(self, X=None, y=None):
        """Contact the server: read its model card and check the data against it.

        Nothing is trained (the model is pre-trained on the server). The card
        is read again (``GET /v1/model``), which sets ``classes_``.

        Parameters
        ----------
        X : sequence of str or array-like of shape (n_samples, n_features), \
default=None
            Inputs in the form the server takes; numeric rows set
            ``n_features_in_``.
        y : array-like of shape (n_samples,), default=None
            Labels; every one must be a class of the remote model.

        Returns
        -------
        self : RemoteClassifier
            This estimator.

        Raises
        ------
        ValueError
            If a parameter is invalid, the server is not an ``elang-sk serve``
            classifier, or ``y`` has labels the remote model cannot predict.
        RemoteStageError
            If the server cannot be reached.
        RuntimeError
            If a ``header_env`` variable is not set.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> from elang_sk.serving import ServerThread, create_app
        >>> from elang_sk.serving._remote import RemoteClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> served = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:150], y[:150]),
        ...     LogisticRegression().fit(X[:150], y[:150]), router="softmax",
        ... ).fit(X[150:], y[150:])
        >>> with ServerThread(create_app(served)) as server:
        ...     remote = RemoteClassifier(server.url).fit(X, y)
        >>> remote.n_features_in_, remote.classes_.tolist()
        (20, [0, 1])
        """
        self._check_params()
        card = self._card(refresh=True)
        self.__dict__.pop("n_features_in_", None)
        if X is not None:
            rows = _payload_rows(X)
            if rows and not isinstance(rows[0], str):
                self.n_features_in_ = len(rows[0])
        if y is not None:
            classes = np.asarray(card["classes"])
            unseen = np.setdiff1d(np.unique(np.asarray(y)), classes)
            if unseen.size:
                raise ValueError(
                    f"y contains labels {unseen.tolist()} that the remote model at "
                    f"{self.url} cannot predict (its classes are "
                    f"{classes.tolist()})."
                )
        return self

    # -- predictions ----------------------------------------------------------------

    def predict(self, X):
        """The remote model's predictions (its ``predictions``), in input order.

        Parameters
        ----------
        X : sequence of str or array-like of shape (n_samples, n_features)
            Texts, or numeric rows (sent as lists of floats).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels, of the dtype of ``classes_``.

        Raises
        ------
        ValueError
            If the server refuses the inputs (HTTP 4xx; its message says why).
        RemoteStageError
            If the server does not answer after the retries.
        RuntimeError
            If a ``header_env`` variable is not set.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> from elang_sk.serving import ServerThread, create_app
        >>> from elang_sk.serving._remote import RemoteClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> served = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:150], y[:150]),
        ...     LogisticRegression().fit(X[:150], y[:150]), router="softmax",
        ... ).fit(X[150:], y[150:])
        >>> with ServerThread(create_app(served)) as server:
        ...     y_pred = RemoteClassifier(server.url, batch_size=50).predict(X)
        >>> bool((y_pred == served.predict(X)).all())
        True
        """
        labels, _ = self._answers(X, proba=False)
        return labels

    def predict_proba(self, X):
        """The remote model's probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : sequence of str or array-like of shape (n_samples, n_features)
            Texts, or numeric rows (sent as lists of floats).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)

        Raises
        ------
        ValueError
            If the server refuses the inputs (HTTP 4xx; its message says why).
        RemoteStageError
            If the server does not answer after the retries.
        RuntimeError
            If a ``header_env`` variable is not set.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> from elang_sk.serving import ServerThread, create_app
        >>> from elang_sk.serving._remote import RemoteClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> served = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:150], y[:150]),
        ...     LogisticRegression().fit(X[:150], y[:150]), router="softmax",
        ... ).fit(X[150:], y[150:])
        >>> with ServerThread(create_app(served)) as server:
        ...     proba = RemoteClassifier(server.url).predict_proba(X[:3])
        >>> bool(np.allclose(proba, served.predict_proba(X[:3])))
        True
        """
        _, proba = self._answers(X, proba=True)
        return proba

    def elang_fingerprint(self):
        """Name the remote model for the output cache (reads its card anew).

        Returns
        -------
        fingerprint : str
            Hex digest of the URL and the model card's estimator, stages,
            classes, calibration summary, current thresholds and
            ``fingerprint`` (the content fingerprint of the served model,
            weights included, on a server built by
            :func:`~elang_sk.serving.create_app`; see the module docstring).

        Raises
        ------
        RemoteStageError
            If the server cannot be reached, or its card's ``fingerprint`` is
            null (the server could not compute it): without them, cached
            outputs could be stale.
        RuntimeError
            If a ``header_env`` variable is not set.

        Examples
        --------
        >>> from sklearn.datasets import make_classification
        >>> from sklearn.linear_model import LogisticRegression
        >>> from elang_sk import JointClassifier
        >>> from elang_sk.serving import ServerThread, create_app
        >>> from elang_sk.serving._remote import RemoteClassifier
        >>> X, y = make_classification(n_samples=300, random_state=0)
        >>> served = JointClassifier(
        ...     LogisticRegression(C=0.01).fit(X[:150], y[:150]),
        ...     LogisticRegression().fit(X[:150], y[:150]), router="softmax",
        ... ).fit(X[150:], y[150:])
        >>> with ServerThread(create_app(served)) as server:
        ...     remote = RemoteClassifier(server.url)
        ...     same = remote.elang_fingerprint() == remote.elang_fingerprint()
        >>> same
        True
        """
        self._check_params()
        card, thresholds = self._fetch_card()
        self.__dict__["_card_state"] = (_base_url(self.url), card)
        if "fingerprint" in card and not card["fingerprint"]:
            reason = card.get("fingerprint_error") or "no reason given"
            raise RemoteStageError(
                _base_url(self.url) + "/v1/model",
                200,
                "its model card has a null fingerprint: the server could not "
                f"name its model ({reason}), so its outputs cannot be cached",
                1,
            )
        named = {"url": _base_url(self.url), "card": card, "thresholds": thresholds}
        text = json.dumps(named, sort_keys=True, default=str)
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def close(self):
        """Close the pooled HTTP connections (a later call opens new ones).

        Examples
        --------
        >>> from elang_sk.serving._remote import RemoteClassifier
        >>> RemoteClassifier("http://127.0.0.1:8000").close()
        """
        with self._lock():
            entry = self.__dict__.pop("_client", None)
        if entry is not None:
            entry[1].close()

    # -- the model card ---------------------------------------------------------------

    def _card(self, refresh=False):
        """The card's parts that name the model, read once per URL."""
        base = _base_url(self.url)
        entry = self.__dict__.get("_card_state")
        if refresh or entry is None or entry[0] != base:
            self._check_params()
            card, _ = self._fetch_card()
            entry = self.__dict__["_card_state"] = (base, card)
        return entry[1]

    def _fetch_card(self):
        base = _base_url(self.url)
        try:
            card = self._request("GET", "/v1/model")
        except ValueError as exc:
            raise ValueError(
                f"{base} gave no model card ({exc}). Is it the address of an "
                "`elang-sk serve` server?"
            ) from None
        if not isinstance(card, dict) or "estimator" not in card:
            raise ValueError(
                f"{base}/v1/model is not an elang_sk model card: is {base} the "
                "address of an `elang-sk serve` server?"
            )
        classes = card.get("classes")
        if not isinstance(classes, list) or not classes:
            raise ValueError(
                f"The model at {base} is a {card.get('estimator')} for "
                f"{card.get('task', 'an unknown task')!r} with no classes: "
                "RemoteClassifier needs a served classifier."
            )
        point = card.get("operating_point")
        thresholds = point.get("thresholds") if isinstance(point, dict) else None
        named = {key: card[key] for key in _CARD_KEYS if key in card}
        if "fingerprint" in named and not named["fingerprint"]:
            named["fingerprint_error"] = str(card.get("fingerprint_error"))[:300]
        return named, thresholds

    # -- requests ---------------------------------------------------------------------

    def _check_params(self):
        _base_url(self.url)
        _number("timeout_s", self.timeout_s)
        _number("max_retries", self.max_retries, kind=Integral, strict=False)
        _number("backoff_s", self.backoff_s, strict=False)
        _number("batch_size", self.batch_size, kind=Integral)
        _number("max_concurrency", self.max_concurrency, kind=Integral)
        headers = self.headers
        if headers is not None and not (
            isinstance(headers, dict)
            and all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            )
        ):
            raise ValueError("headers must be None or a dict of str to str.")
        _check_header_env(self.header_env, headers)

    def _env_headers(self):
        """The ``header_env`` headers, read from the environment now."""
        values = {}
        for header, name in (self.header_env or {}).items():
            value = os.environ.get(name)
            if not value:
                state = "is empty" if value == "" else "is not set"
                raise RuntimeError(
                    f"The environment variable {name!r} {state}: "
                    f"RemoteClassifier(url={self.url!r}) reads its {header!r} "
                    f"header from it (header_env). Set {name} to the header's "
                    "value in the environment of this process."
                )
            values[header] = value
        return values

    def _lock(self):
        # dict.setdefault is atomic: every thread gets the same lock.
        return self.__dict__.setdefault("_http_lock", threading.Lock())

    def _client_for_params(self):
        """The pooled client of the current parameters (made on first use)."""
        httpx = _import_httpx()
        key = (
            float(self.timeout_s),
            int(self.max_concurrency),
            tuple(sorted((self.headers or {}).items())),
        )
        with self._lock():
            entry = self.__dict__.get("_client")
            if entry is not None and entry[0] == key:
                return entry[1]
            if entry is not None:
                entry[1].close()
            n = int(self.max_concurrency)
            client = httpx.Client(
                timeout=httpx.Timeout(float(self.timeout_s)),
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                headers=dict(self.headers or {}),
                follow_redirects=False,
            )
            self.__dict__["_client"] = (key, client)
            return client

    def _wait(self, attempt, reply=None):
        """Seconds before retry ``attempt + 1``: ``Retry-After``, or backoff."""
        if reply is not None and reply.status_code in (429, 503):
            asked = _retry_after(reply)
            if asked is not None:
                return min(max(asked, 0.0), MAX_WAIT_S)
        delay = min(float(self.backoff_s) * 2.0**attempt, MAX_WAIT_S)
        return delay * random.uniform(0.5, 1.0)

    def _request(self, method, path, payload=None):
        """One call with retries; the JSON body of a 2xx answer."""
        httpx = _import_httpx()
        client = self._client_for_params()
        url = _base_url(self.url) + path
        headers = self._env_headers() or None
        attempts = int(self.max_retries) + 1
        status = message = None
        for attempt in range(attempts):
            try:
                reply = client.request(method, url, json=payload, headers=headers)
            except httpx.TimeoutException as exc:
                status = None
                message = (
                    f"no answer within timeout_s={self.timeout_s} s "
                    f"({type(exc).__name__})"
                )
                wait = self._wait(attempt)
            except httpx.TransportError as exc:
                status, message = None, f"{type(exc).__name__}: {exc}"
                wait = self._wait(attempt)
            else:
                status = reply.status_code
                if 200 <= status < 300:
                    try:
                        return reply.json()
                    except ValueError:
                        raise RemoteStageError(
                            url, status, "the answer is not JSON", attempt + 1
                        ) from None
                message = _server_message(reply)
                if status == 413:
                    raise _TooLarge(message)
                if status not in RETRY_STATUSES:
                    if 400 <= status < 500:
                        raise ValueError(
                            f"The remote model at {url} refused the request "
                            f"(HTTP {status}): {message}"
                        )
                    raise RemoteStageError(url, status, message, attempt + 1)
                wait = self._wait(attempt, reply)
            if attempt + 1 < attempts:
                time.sleep(wait)
        raise RemoteStageError(url, status, message, attempts)

    def _rows_per_request(self):
        learned = self.__dict__.get("_max_rows")
        size = int(self.batch_size)
        return size if learned is None else max(1, min(size, learned))

    def _post_rows(self, rows, proba):
        """Answers of one batch: predictions and, with ``proba``, probabilities."""
        payload = {"inputs": rows, "timeout_ms": float(self.timeout_s) * 1000.0}
        if proba:
            payload["return"] = ["proba"]
        try:
            body = self._request("POST", "/v1/predict", payload)
        except _TooLarge as exc:
            if len(rows) == 1:
                raise ValueError(
                    f"The remote model at {_base_url(self.url)} refused an input "
                    f"as too large (HTTP 413): {exc.message}"
                ) from None
            half = len(rows) // 2
            if "max_inputs" in exc.message:
                # The server's request limit: later requests stay under it.
                with self._lock():
                    known = self.__dict__.get("_max_rows") or half
                    self.__dict__["_max_rows"] = min(known, half)
            first = self._post_rows(rows[:half], proba)
            second = self._post_rows(rows[half:], proba)
            return (
                first[0] + second[0],
                first[1] + second[1] if proba else None,
            )
        url = _base_url(self.url) + "/v1/predict"
        labels = body.get("predictions") if isinstance(body, dict) else None
        values = body.get("proba") if isinstance(body, dict) and proba else None
        if not isinstance(labels, list) or len(labels) != len(rows):
            raise RemoteStageError(
                url, 200, f"the answer has no predictions for {len(rows)} inputs", 1
            )
        if proba and (not isinstance(values, list) or len(values) != len(rows)):
            raise RemoteStageError(
                url, 200, f"the answer has no proba for {len(rows)} inputs", 1
            )
        return labels, values

    def _answers(self, X, proba):
        """Predictions (and probabilities) of every row, batched, concurrent."""
        self._check_params()
        rows = _payload_rows(X)
        classes = self.classes_
        size = self._rows_per_request()
        chunks = [rows[start : start + size] for start in range(0, len(rows), size)]
        workers = min(int(self.max_concurrency), len(chunks))
        if workers <= 1:
            parts = [self._post_rows(chunk, proba) for chunk in chunks]
        else:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="elang-remote")
            try:
                futures = [pool.submit(self._post_rows, c, proba) for c in chunks]
                parts = [future.result() for future in futures]
            finally:
                # On a failure, batches not started yet are not sent.
                pool.shutdown(wait=True, cancel_futures=True)
        labels = np.asarray([label for part in parts for label in part[0]])
        if labels.size and not np.isin(labels, classes).all():
            unknown = np.setdiff1d(labels, classes).tolist()[:5]
            raise RemoteStageError(
                _base_url(self.url) + "/v1/predict",
                200,
                f"it predicts labels {unknown} that are not in classes_ "
                f"{classes.tolist()} (did the model change? call fit to read its "
                "card again)",
                1,
            )
        labels = labels.astype(classes.dtype)
        if not proba:
            return labels, None
        if not rows:
            return labels, np.empty((0, len(classes)))
        values = [p for part in parts for p in part[1]]
        values = np.asarray(values, dtype=float).reshape(len(rows), -1)
        if values.shape[1] != len(classes):
            raise RemoteStageError(
                _base_url(self.url) + "/v1/predict",
                200,
                f"proba has {values.shape[1]} columns for {len(classes)} classes "
                "(did the model change? call fit to read its card again)",
                1,
            )
        return labels, values
