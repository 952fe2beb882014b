"""The energy head: a linear C-class classifier on frozen Swift features (eq. 8).

Unlike scikit-learn's binary logistic regression, which learns a single margin,
the head keeps one weight row per class, so it always returns ``C`` logits and
its negative free energy is well defined for every ``C >= 2``.
"""

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits


def _loss_grad(params, X, Y, alpha):
    n_features, n_classes = X.shape[1], Y.shape[1]
    W = params[: n_features * n_classes].reshape(n_features, n_classes)
    b = params[n_features * n_classes :]
    logits = np.asarray(X @ W) + b
    log_norm = logsumexp(logits, axis=1, keepdims=True)
    loss = np.mean(log_norm[:, 0] - np.sum(Y * logits, axis=1))
    loss += 0.5 * alpha * np.sum(W * W)
    residual = (np.exp(logits - log_norm) - Y) / X.shape[0]
    grad_W = np.asarray(X.T @ residual) + alpha * W
    return loss, np.concatenate([grad_W.ravel(), residual.sum(axis=0)])


def fit_linear_head(X, y, n_classes, *, alpha=1e-4, max_iter=500):
    """Fit a multinomial linear head by L-BFGS on the L2-penalised log-loss.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Frozen Swift features.
    y : ndarray of shape (n_samples,)
        Class indices in ``range(n_classes)``.
    n_classes : int
        Number of logits ``C``; classes absent from ``y`` still get a row.
    alpha : float, default=1e-4
        L2 penalty on the weights (not on the intercepts).
    max_iter : int, default=500
        Maximum L-BFGS iterations.

    Returns
    -------
    coef : ndarray of shape (n_features, n_classes)
    intercept : ndarray of shape (n_classes,)
    n_iter : int
    """
    if not sparse.issparse(X):
        X = np.asarray(X, dtype=np.float64)
    n_features = X.shape[1]
    Y = np.zeros((X.shape[0], n_classes))
    Y[np.arange(X.shape[0]), y] = 1.0
    x0 = np.zeros(n_features * n_classes + n_classes)
    # Small matrix products: BLAS threads cost more than they bring here.
    with threadpool_limits(1):
        result = minimize(
            _loss_grad,
            x0,
            args=(X, Y, alpha),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter},
        )
    coef = result.x[: n_features * n_classes].reshape(n_features, n_classes)
    intercept = result.x[n_features * n_classes :]
    # Softmax is shift-invariant, the energy is not: centre the unpenalised
    # intercepts so the head's energies do not drift with the optimiser.
    return coef, intercept - intercept.mean(), result.nit
