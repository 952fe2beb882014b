"""Training of a transformers classifier: linear head, fine-tuning, distillation.

The ``"encoder"`` task trains a linear head on frozen pooled features
(:func:`fit_head`, on :func:`elang_sk.routing._head.fit_linear_head`);
``fine_tune=True`` trains the model's weights (:func:`fine_tune`); a
teacher's softened outputs (:func:`teacher_targets`) add the distillation
loss of Sanh et al. (2019) to
both. torch is imported at module level: import this module lazily.
"""

import numpy as np
import torch
from scipy.special import softmax
from sklearn.utils.validation import check_is_fitted, check_random_state

from elang_sk.routing._head import fit_linear_head


def teacher_targets(teacher, X, classes, temperature):
    """The teacher's class probabilities at ``temperature``, in ``classes`` order.

    Parameters
    ----------
    teacher : fitted classifier
        Has ``predict_logits`` or ``predict_proba``, and ``classes_``.
    X : list of str
        Training texts.
    classes : ndarray of shape (n_classes,)
        The student's classes; the teacher must have the same.
    temperature : float
        Softmax temperature.

    Returns
    -------
    soft : ndarray of shape (n_samples, n_classes)
    """
    check_is_fitted(teacher)
    if hasattr(teacher, "predict_logits"):
        logits = np.asarray(teacher.predict_logits(X), dtype=np.float64)
    else:
        proba = np.asarray(teacher.predict_proba(X), dtype=np.float64)
        logits = np.log(np.clip(proba, 1e-12, None))
    teacher_classes = np.asarray(teacher.classes_)
    if set(teacher_classes.tolist()) != set(classes.tolist()):
        raise ValueError(
            f"distill_from has classes {teacher_classes.tolist()}, but y has "
            f"{classes.tolist()}; they must be the same."
        )
    order = [teacher_classes.tolist().index(c) for c in classes.tolist()]
    return softmax(logits[:, order] / temperature, axis=1)


def fit_head(features, y, n_classes, *, alpha, soft=None, temperature, distill_alpha):
    """Linear softmax head on frozen features, optionally distilled.

    Without ``soft`` this is :func:`elang_sk.routing._head.fit_linear_head`. With it,
    the loss is ``1 - distill_alpha`` times the cross-entropy with the hard
    labels plus ``distill_alpha * temperature ** 2`` times the KL divergence to
    ``soft`` at ``temperature``, plus ``alpha / 2 * ||coef||^2``; both terms
    are :func:`elang_sk.routing._head.fit_linear_head`'s own loss.

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Class indices.
    n_classes : int
    alpha : float
        L2 penalty on the weights.
    soft : ndarray of shape (n_samples, n_classes) or None
        The teacher's softened probabilities.
    temperature : float
    distill_alpha : float

    Returns
    -------
    coef : ndarray of shape (n_classes, n_features)
    intercept : ndarray of shape (n_classes,)
        Centred (softmax is shift-invariant).
    """
    coef, intercept, _ = fit_linear_head(
        np.asarray(features, dtype=np.float64),
        y,
        n_classes,
        alpha=alpha,
        max_iter=1000,
        soft=soft,
        temperature=temperature,
        soft_weight=0.0 if soft is None else distill_alpha,
    )
    return coef.T, intercept


def fine_tune(
    forward,
    X,
    y,
    *,
    n_classes,
    soft,
    label_targets,
    epochs,
    learning_rate,
    batch_size,
    distill_temperature,
    distill_alpha,
    random_state,
    progress=None,
):
    """Train the weights of ``forward.model`` in place (AdamW).

    Parameters
    ----------
    forward : HFForward
        The model to train and how it is read (its ``coef`` is unused).
    X : list of str
        Training texts.
    y : ndarray of shape (n_samples,)
        Class indices.
    n_classes : int
        Number of classes.
    soft : ndarray of shape (n_samples, n_classes) or None
        Teacher targets; ``None`` trains on the hard labels only.
    label_targets : list of list of int or None
        ``"seq2seq"``: the target ids of every class's label word.
    epochs : int
        Passes over the data.
    learning_rate : float
        AdamW learning rate.
    batch_size : int
        Texts per step.
    distill_temperature : float
        Softmax temperature of the distillation loss.
    distill_alpha : float
        Weight of the distillation loss.
    random_state : int, RandomState instance or None
        Seeds the head, dropout and the shuffling.
    progress : callable, default=None
        Called as ``progress(done, total)`` with the training examples seen
        over all epochs (``total = epochs * len(X)``): ``(0, total)`` first,
        then after every step; its ``close()``, if any, at the end.

    Returns
    -------
    coef : ndarray of shape (n_classes, hidden_size) or None
        ``"encoder"``: the trained linear head; else ``None``.
    intercept : ndarray of shape (n_classes,) or None
    """
    model, device = forward.model, forward.device
    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    encodings, _ = forward.tokenize(X)
    y_t = torch.as_tensor(y, device=device)
    soft_t = None if soft is None else torch.as_tensor(soft, device=device)
    mix = (distill_temperature, distill_alpha)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        head = None
        if forward.task == "encoder":
            head = torch.nn.Linear(model.config.hidden_size, n_classes)
            head.to(device=device, dtype=model.dtype)
        parameters = list(model.parameters())
        parameters += [] if head is None else list(head.parameters())
        optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
        model.train()
        total, done = epochs * len(X), 0
        if progress is not None:
            progress(0, total)
        try:
            for epoch in range(epochs):
                order = rng.permutation(len(X))
                for start in range(0, len(X), batch_size):
                    rows = order[start : start + batch_size]
                    batch = forward.pad(encodings, rows)
                    loss = _training_loss(
                        forward, batch, rows, head, y_t, soft_t, label_targets, mix
                    )
                    if not torch.isfinite(loss):
                        raise ValueError(
                            f"Fine-tuning stopped at epoch {epoch + 1}: the model "
                            "produced a non-finite loss (NaN or inf). Check the "
                            "model's weights for NaN or inf values, train in "
                            "float32 (dtype='float32'), or lower learning_rate "
                            f"(now {learning_rate})."
                        )
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    done += len(rows)
                    if progress is not None:
                        progress(done, total)
        finally:
            model.eval()
            close = getattr(progress, "close", None)
            if close is not None:
                close()
    if head is None:
        return None, None
    coef = head.weight.detach().double().cpu().numpy()
    return coef, head.bias.detach().double().cpu().numpy()


def _training_loss(forward, batch, rows, head, y_t, soft_t, label_targets, mix):
    """Cross-entropy of one batch, mixed with distillation when ``soft_t`` is set.

    ``mix`` is ``(temperature, distill_alpha)``.
    """
    functional = torch.nn.functional
    device = forward.device
    rows_t = torch.as_tensor(rows, device=device)
    if forward.task == "seq2seq":
        targets = [label_targets[i] for i in y_t[rows_t].tolist()]
        width = max(len(t) for t in targets)
        labels = torch.full((len(rows), width), -100, device=device)
        for j, t in enumerate(targets):
            labels[j, : len(t)] = torch.as_tensor(t)
        out = forward.model(**batch, labels=labels)
        hard = out.loss
        logits = out.logits[:, 0, torch.as_tensor(forward.label_token_ids)]
    else:
        if forward.task == "encoder":
            logits = head(forward.features(batch))
        else:
            logits = forward.model(**batch).logits
            logits = logits[:, torch.as_tensor(forward.columns)]
        hard = functional.cross_entropy(logits.float(), y_t[rows_t])
    if soft_t is None:
        return hard
    temperature, distill_alpha = mix
    log_student = functional.log_softmax(logits.float() / temperature, dim=1)
    distill = functional.kl_div(
        log_student, soft_t[rows_t].float(), reduction="batchmean"
    ) * (temperature**2)
    return distill_alpha * distill + (1 - distill_alpha) * hard
