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


def _distilled_loss_grad(params, X, Y, alpha, soft, temperature, soft_weight):
    """Hard-label log-loss mixed with the log-loss to a teacher's soft labels.

    The soft term is the same loss on the logits divided by ``temperature``,
    i.e. on ``params / temperature`` (its constant entropy does not matter),
    scaled by ``temperature ** 2`` as in Hinton et al.'s distillation.
    """
    n_weights = X.shape[1] * Y.shape[1]
    hard, hard_grad = _loss_grad(params, X, Y, 0.0)
    distill, distill_grad = _loss_grad(params / temperature, X, soft, 0.0)
    loss = (1 - soft_weight) * hard + soft_weight * temperature**2 * distill
    grad = (1 - soft_weight) * hard_grad + soft_weight * temperature * distill_grad
    weights = params[:n_weights]
    loss += 0.5 * alpha * np.sum(weights**2)
    grad[:n_weights] += alpha * weights
    return loss, grad


def fit_linear_head(
    X,
    y,
    n_classes,
    *,
    alpha=1e-4,
    max_iter=500,
    soft=None,
    temperature=1.0,
    soft_weight=0.0,
):
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
    soft : ndarray of shape (n_samples, n_classes), default=None
        A teacher's softened probabilities, for distillation: the loss is then
        ``(1 - soft_weight)`` times the hard-label log-loss plus
        ``soft_weight * temperature ** 2`` times the log-loss to ``soft`` of
        the logits divided by ``temperature``.
    temperature : float, default=1.0
        Distillation temperature (with ``soft``).
    soft_weight : float, default=0.0
        Weight of the distillation term (with ``soft``).

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
    if soft is None:
        objective, args = _loss_grad, (X, Y, alpha)
    else:
        soft = np.asarray(soft, dtype=np.float64)
        objective = _distilled_loss_grad
        args = (X, Y, alpha, soft, temperature, soft_weight)
    # Small matrix products: BLAS threads cost more than they bring here.
    with threadpool_limits(1):
        result = minimize(
            objective,
            x0,
            args=args,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter},
        )
    coef = result.x[: n_features * n_classes].reshape(n_features, n_classes)
    intercept = result.x[n_features * n_classes :]
    # Softmax is shift-invariant, the energy is not: centre the unpenalised
    # intercepts so the head's energies do not drift with the optimiser.
    return coef, intercept - intercept.mean(), result.nit
