"""SavedTensorMeter: the bytes autograd keeps alive for backward because of a block of code."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import torch


class SavedTensorMeter:
    """Counts the storages saved for backward inside its ``with`` block.

    Each storage counts once, however many tensors view it. Leaf tensors that require grad
    (parameters, user inputs with ``requires_grad``) and the tensors passed as ``ignore`` are left
    out: they are alive anyway. Everything else an op saves — its input, its output, relukit's
    packed derivative codes — counts. ``by_dtype`` splits the total by dtype (codes show as uint8).

    Example::

        >>> with SavedTensorMeter(ignore=[x]) as meter:
        ...     loss = model(x).sum()
        >>> meter.saved_bytes
    """

    def __init__(self, *, ignore: Iterable[torch.Tensor] = ()) -> None:
        self._ignored = {t.untyped_storage().data_ptr() for t in ignore}
        self._seen: set[tuple[str, int]] = set()
        self.saved_bytes = 0
        self.tensors = 0
        self.by_dtype: dict[str, int] = defaultdict(int)
        self._hooks: torch.autograd.graph.saved_tensors_hooks | None = None

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        self._record(tensor)
        return tensor

    def _record(self, tensor: torch.Tensor) -> None:
        base = tensor if tensor._base is None else tensor._base  # weight.t() is a view of a parameter
        if base.is_leaf and base.requires_grad:
            return
        storage = tensor.untyped_storage()
        key = (str(tensor.device), storage.data_ptr())
        if storage.data_ptr() in self._ignored or key in self._seen:
            return
        self._seen.add(key)
        self.tensors += 1
        self.saved_bytes += storage.nbytes()
        self.by_dtype[str(tensor.dtype).removeprefix("torch.")] += storage.nbytes()

    def __enter__(self) -> SavedTensorMeter:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
        self._hooks = None

    def print(self) -> None:
        """A one-table summary (rich)."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title="saved for backward")
        table.add_column("dtype")
        table.add_column("bytes", justify="right")
        for dtype, nbytes in sorted(self.by_dtype.items()):
            table.add_row(dtype, f"{nbytes:,}")
        table.add_row("total", f"{self.saved_bytes:,} in {self.tensors} storages", style="bold")
        Console().print(table)
