"""Private torch helpers: devices, dtypes, weight digests and batched inference.

Nothing here is public; the transformers estimators and their helper modules
use it. torch is imported at module level, so this module must only be imported
lazily.
"""

import numpy as np
import torch

import elang_sk._fingerprint as fingerprints
from elang_sk._utils import progress_bar

_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def resolve_device(device, name="device"):
    """``"auto"`` -> CUDA when available, else CPU; anything else -> torch.device.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...
    name : str, default="device"
        The parameter or option that gave ``device``, for the messages
        (``"--device"`` names a command line option).

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        If ``device`` is not a device name, or names CUDA (or a CUDA index)
        or MPS that this torch cannot use.

    Examples
    --------
    >>> from elang_sk.hf._torch_utils import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def spell(value):
        return f"{name} {value}" if name.startswith("-") else f"{name}={value!r}"

    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{spell(device)} is not a device: use {spell('auto')} (CUDA when "
            f"available, else the CPU), {spell('cpu')}, {spell('cuda')}, "
            f"{spell('cuda:1')} or {spell('mps')}."
        ) from None
    fix = f"Use {spell('cpu')}, or {spell('auto')} to use a GPU when there is one."
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                f"this torch ({torch.__version__}) was built without CUDA"
                if torch.version.cuda is None
                else "no CUDA GPU is visible (check the driver and "
                "CUDA_VISIBLE_DEVICES)"
            )
            raise ValueError(
                f"{spell(str(device))} asks for CUDA, but CUDA is not available: "
                f"{why}. {fix}"
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"{spell(str(device))} asks for CUDA GPU {resolved.index}, but "
                f"only {count} GPU(s) are visible (0 to {count - 1}). Use "
                f"{spell('cuda:0')}, or {spell('auto')}."
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"{spell(str(device))} asks for Apple's MPS, but MPS is not available "
            f"here (it needs an Apple-silicon Mac and a torch built with it). {fix}"
        )
    return resolved


def resolve_dtype(dtype, device, model_dtype):
    """Turn the ``dtype`` parameter into a torch dtype valid on ``device``."""
    if isinstance(dtype, str) and dtype == "auto":
        # Keep what the model holds, except that half precision on a CPU is slow
        # and numerically fragile: use float32 there.
        if device.type == "cpu" and model_dtype in (torch.float16, torch.bfloat16):
            return torch.float32
        return model_dtype
    resolved = _DTYPES[dtype] if isinstance(dtype, str) else dtype
    if resolved in (torch.float16, torch.bfloat16) and device.type == "cpu":
        raise ValueError(
            f"dtype={dtype!r} (half precision) needs a CUDA device, but the model "
            f"runs on {device}. Use dtype='float32' or dtype='auto' on a CPU."
        )
    return resolved


def tensor_digest(tensor):
    """Digest of a tensor's dtype, shape and every byte; see :mod:`_fingerprint`."""
    return fingerprints.tensor_digest(tensor)


def module_digest(module):
    """Fingerprint of every parameter, buffer and setting of a module."""
    return fingerprints.fingerprint(module)


def pad_ids(ids, rows, fill, padding_side="right"):
    """``ids[rows]`` padded with ``fill`` to their longest, and their mask.

    Parameters
    ----------
    ids : sequence of sequence of int
        Token ids (or any per-token values) of every input.
    rows : sequence of int
        The inputs of the batch, in batch order.
    fill : int
        The padding value.
    padding_side : {"right", "left"}, default="right"
        Where the padding goes.

    Returns
    -------
    padded, mask : ndarray of shape (len(rows), longest), int64
        The padded rows, and 1 at their real positions, 0 at the padding.

    Examples
    --------
    >>> from elang_sk.hf._torch_utils import pad_ids
    >>> padded, mask = pad_ids([[5, 6, 7], [8]], [1, 0], fill=0, padding_side="left")
    >>> padded.tolist(), mask.tolist()
    ([[0, 0, 8], [5, 6, 7]], [[0, 0, 1], [1, 1, 1]])
    """
    length = max(len(ids[i]) for i in rows)
    padded = np.full((len(rows), length), fill, dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for j, i in enumerate(rows):
        n = len(ids[i])
        where = slice(length - n, length) if padding_side == "left" else slice(0, n)
        padded[j, where] = ids[i]
        mask[j, where] = 1
    return padded, mask


def pad_tensors(ids, rows, fill, device, padding_side="right"):
    """:func:`pad_ids` as ``(padded, mask)`` tensors on ``device``."""
    arrays = pad_ids(ids, rows, fill, padding_side)
    return tuple(to_device(torch.from_numpy(a), device) for a in arrays)


def pad_batch(encodings, rows, pad_token_id, padding_side, device):
    """Pad the tokenized ``rows`` of ``encodings`` to their longest and stack.

    ``input_ids`` are padded with ``pad_token_id``, every other field with 0;
    an ``attention_mask`` is added when ``encodings`` has none.
    """
    batch = {}
    for name, values in encodings.items():
        fill = pad_token_id if name == "input_ids" else 0
        batch[name], mask = pad_tensors(values, rows, fill, device, padding_side)
        if name == "input_ids":
            batch.setdefault("attention_mask", mask)
    return batch


def to_device(tensor, device):
    """``tensor`` on ``device``; to a GPU through pinned memory, without a sync.

    A copy from pageable host memory waits for the GPU to finish the work
    queued before it, so the host could not prepare batch k+1 while batch k
    runs; a non-blocking copy from pinned memory is queued like a kernel.
    """
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class BarProgress:
    """A tqdm bar named ``desc``, as a :func:`run_batches` progress callback.

    Parameters
    ----------
    progress : bool or "auto"
        Whether to show the bar, as :func:`elang_sk._utils.progress_bar`
        decides: ``"auto"`` on a terminal, for more than one batch.
    desc : str
        What the bar names (the model and what it computes).
    batch_size : int
        Inputs per batch, for ``"auto"``.

    Examples
    --------
    >>> from elang_sk.hf._torch_utils import BarProgress
    >>> report = BarProgress(False, "bert transform", 8)
    >>> report(0, 100); report(8, 100); report.close()
    """

    def __init__(self, progress, desc, batch_size):
        self.progress, self.desc, self.batch_size = progress, desc, batch_size
        self.bar = None

    def __call__(self, done, total):
        if done == 0:
            self.close()
            self.bar = progress_bar(-(-total // self.batch_size), total, self.progress)
            if self.bar is not None:
                self.bar.set_description_str(self.desc, refresh=False)
        elif self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self):
        """Close the bar, if one is shown."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __deepcopy__(self, memo):
        # A progress reporter is shared by clones, like a logger.
        return self


def run_batches(
    lengths, batch_size, forward, *, progress="auto", min_ratio=0.0, desc=None
):
    """Run ``forward(rows)`` over length-sorted batches; rows back in input order.

    Parameters
    ----------
    lengths : sequence of int
        Tokenized length of every input.
    batch_size : int
        Inputs per batch at the start; halved on CUDA out-of-memory errors.
    forward : callable
        ``forward(rows)`` returns an ndarray, or a torch tensor, with one row
        per index in ``rows``. Tensors are brought to the host once, after
        the last batch: a copy per batch would make the host wait for the
        device after every batch instead of preparing the next one.
    progress : bool, "auto" or callable
        Whether to show a tqdm bar over the inputs, as
        :func:`elang_sk._utils.progress_bar` decides over the batches:
        ``"auto"`` on a terminal only, True off one too, False never. A
        callable is called as ``progress(done, total)``: ``(0, total)``
        first, then after every batch with the inputs done so far; its
        ``close()``, if it has one, when the run ends (on an error too).
    min_ratio : float, default=0.0
        A batch also ends before an input shorter than ``min_ratio`` times its
        longest, so that no input is padded by more than ``1 / min_ratio``:
        what a few routed inputs of mixed lengths would otherwise waste in
        one batch. 0 fills every batch.
    desc : str, default=None
        The name of the tqdm bar (the model and what it computes).

    Returns
    -------
    out : ndarray of shape (len(lengths), ...)
    """
    # Longest first: an out-of-memory error, if any, comes on the first batch.
    order = np.argsort(-np.asarray(lengths), kind="stable")
    sorted_lengths = np.asarray(lengths)[order]
    if not callable(progress):
        progress = BarProgress(progress, desc or "forward", batch_size)
    pending = []
    start = 0
    try:
        progress(0, len(order))
        while start < len(order):
            rows = order[start : start + batch_size]
            if min_ratio:
                bucket = sorted_lengths[start : start + batch_size]
                rows = rows[: int(np.sum(bucket >= min_ratio * bucket[0]))]
            try:
                values = forward(rows)
            except torch.OutOfMemoryError:
                if batch_size == 1:
                    raise
                batch_size = max(1, batch_size // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            pending.append((rows, values))
            start += len(rows)
            progress(start, len(order))
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    out = None
    for rows, values in pending:
        if isinstance(values, torch.Tensor):
            values = values.cpu().numpy()
        if out is None:
            out = np.empty((len(order), *values.shape[1:]), dtype=values.dtype)
        out[rows] = values
    return out
