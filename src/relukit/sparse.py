"""Sparse storage of the zeros of ReLU-family outputs that autograd saves (Gist, Jain et al. ISCA 2018).

A ReLU's output is about half zeros, and the op after it (a convolution, a linear layer, pooling, a matmul)
saves it whole for its own backward. :class:`SparseStorage` is a ``saved_tensors_hooks`` context that keeps
such a tensor ``t`` of ``n`` elements as

    mask = bits(t) != 0  (1 bit per element, packed)      values = t[mask]  (the ``nnz`` non-zero elements)

and rebuilds the identical tensor for backward (``zeros.masked_scatter(mask, values)``): gradients are
bit-identical. The mask compares bit patterns, so ``-0.0``, NaN and infinities are kept as values. It is
chosen only where it is smaller, ``n / 8 + nnz * itemsize < n * itemsize`` (density below
``1 - 1 / (8 * itemsize)``: 96.9% for float32); otherwise the tensor is saved as it is.

A tensor declared with :func:`derive` as a function of a tensor that is saved anyway
(``relukit.nn.BatchNormAct`` with relu / relu6 keeps the BN output ``z``; its output is ``relu(z)``) costs
nothing inside the context: its saves keep a reference to the source and unpack recomputes it, bit for bit.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.weak import WeakIdKeyDictionary

from relukit._ops import native

__all__ = ["SparseStorage", "ZERO_PRODUCERS", "compact", "derive", "expand", "sparse_storage", "storing"]

# Autograd nodes whose output may hold exact zeros: torch's relu, relu6/hardtanh, threshold and relukit's
# lean piecewise op (native C++ node or the Python autograd Function; a leaky output just tests dense).
ZERO_PRODUCERS = frozenset(
    {
        "ReluBackward0",
        "ReluBackward1",
        "HardtanhBackward0",
        "HardtanhBackward1",
        "ThresholdBackward0",
        "ThresholdBackward1",
        "torch::autograd::CppNode<relukit::Lean>",  # native, in place
        "LeanBackward",  # native, out of place (relukit::LeanBackwardNode)
        "_LeanBackward",
        "_PartlyInvertedBatchNormBackward",  # relukit.nn.BatchNormAct with relu / relu6
        "BatchNormReluBackward",  # its C++ route (csrc/bnact.cpp)
    }
)
_Hooks = tuple  # (pack, unpack) of a saved_tensors_hooks context
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


@dataclass
class Tally:
    """Bytes the saved tensors seen by a :class:`SparseStorage` would take dense and take as stored."""

    sparse_tensors: int = 0
    dense_tensors: int = 0
    dense_bytes: int = 0  # of the tensors stored sparse, had they been saved whole
    stored_bytes: int = 0  # mask + values of those tensors
    by_producer: dict[str, int] = field(default_factory=dict)
    derived_tensors: int = 0  # saves recomputed from a source saved anyway (derive): no bytes of their own


class _Shared:
    """What a save keeps instead of a tensor, shared by every save of that tensor (a ReLU's and the next
    op's), plus what the version check needs (a weak reference to the original and its version)."""

    __slots__ = ("shape", "dtype", "version", "original", "producer", "outer", "uses", "rebuilt")

    def __init__(self, t: torch.Tensor, producer: str, outer: _Hooks | None) -> None:
        self.shape, self.dtype, self.version = t.shape, t.dtype, t._version
        self.original = weakref.ref(t)
        self.producer = producer
        self.outer = outer  # hooks entered before ours (a SavedTensorMeter, save_on_cpu) see what we keep
        # The tensor rebuilt for the first backward use is kept for the other saves, then dropped.
        self.uses, self.rebuilt = 0, None

    def _keep(self, t: torch.Tensor) -> Any:
        return t if self.outer is None else self.outer[0](t)

    def _kept(self, kept: Any) -> torch.Tensor:
        return kept if self.outer is None else self.outer[1](kept)

    def unpack(self) -> torch.Tensor:  # the subclasses' _rebuild() gives the tensor
        original = self.original()
        if original is not None and original._version != self.version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{original.type()} {list(self.shape)}], which is output 0 of {self.producer}, "
                f"is at version {original._version}; expected version {self.version} instead."
            )
        self.uses -= 1
        if self.rebuilt is not None:
            rebuilt, self.rebuilt = self.rebuilt, (self.rebuilt if self.uses > 0 else None)
            return rebuilt
        rebuilt = self._rebuild()
        self.rebuilt = rebuilt if self.uses > 0 else None
        return rebuilt


class _Sparse(_Shared):
    """A packed tensor: 1-bit mask of its non-zero elements and their values."""

    __slots__ = ("mask", "values", "nbytes")

    def __init__(
        self, t: torch.Tensor, mask: torch.Tensor, values: torch.Tensor, producer: str, outer: _Hooks | None
    ) -> None:
        super().__init__(t, producer, outer)
        self.nbytes = mask.nbytes + values.nbytes
        self.mask, self.values = self._keep(mask), self._keep(values)

    def _rebuild(self) -> torch.Tensor:
        mask, values = self._kept(self.mask), self._kept(self.values)
        return _unpack(mask, values, self.shape.numel()).view(self.dtype).view(self.shape)


class _Derived(_Shared):
    """A tensor kept as the function of a source that is saved anyway (:func:`derive`)."""

    __slots__ = ("source", "function")

    def __init__(self, t: torch.Tensor, source: torch.Tensor, function: Any, outer: _Hooks | None) -> None:
        super().__init__(t, t.grad_fn.name() if t.grad_fn is not None else "a derived tensor", outer)
        self.source, self.function = self._keep(source), function

    def _rebuild(self) -> torch.Tensor:
        with torch.no_grad():
            return self.function(self._kept(self.source))


# t -> (weak reference to the source, function, t's version when declared); see derive
_DERIVED: WeakIdKeyDictionary = WeakIdKeyDictionary()


def derive(t: torch.Tensor, source: torch.Tensor, function: Any) -> None:
    """Declares ``t`` equal, bit for bit, to ``function(source)``, where ``source`` is saved for backward
    anyway: inside a :class:`SparseStorage`, a save of ``t`` (or of a whole contiguous view of it) keeps a
    reference to ``source`` and recomputes ``function(source)`` for backward. An in-place change of ``t``
    after this call ends the declaration. The caller guarantees the equality (relukit.nn.BatchNormAct:
    ``t = torch.relu(z)`` from the BN output ``z`` it keeps)."""
    for name, value in (("t", t), ("source", source)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"derive: {name} must be a tensor, got {_describe(value)}")
    if not callable(function):
        raise TypeError(f"derive: function must be callable, got {type(function).__name__}")
    _DERIVED[t] = (weakref.ref(source), function, t._version)


def storing() -> bool:
    """Whether saves on this thread go to a :class:`SparseStorage` now (its hooks are the innermost)."""
    top = torch._C._autograd._top_saved_tensors_default_hooks(False)
    return top is not None and isinstance(getattr(top[0], "__self__", None), SparseStorage)


def _pack(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mask, values) of a flat integer tensor of bit patterns, or None where that is not smaller than the
    tensor: ``n / 8 + nnz * itemsize >= n * itemsize``. The native kernels (csrc/sparse.cpp), else NumPy."""
    numel, itemsize = flat.numel(), flat.element_size()
    max_nnz = (numel * itemsize - (numel + 7) // 8 - 1) // itemsize  # the most non-zeros that still save bytes
    if native.available():
        mask, values, nnz = torch.ops.relukit_native.sparse_pack(flat, max_nnz)
        return (mask, values) if nnz <= max_nnz else None
    keep = flat.numpy() != 0
    if int(keep.sum()) > max_nnz:
        return None
    return torch.from_numpy(np.packbits(keep, bitorder="little")), torch.from_numpy(flat.numpy()[keep])


def _unpack(mask: torch.Tensor, values: torch.Tensor, numel: int) -> torch.Tensor:
    """The flat tensor of bit patterns that :func:`_pack` stored."""
    if native.available():
        return torch.ops.relukit_native.sparse_unpack(mask, values, numel)
    keep = np.unpackbits(mask.numpy(), count=numel, bitorder="little").view(np.bool_)
    out = torch.zeros(numel, dtype=values.dtype)
    out.numpy()[keep] = values.numpy()
    return out


def compact(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mask, values) of a contiguous CPU tensor's non-zero bit patterns, or None where that is not smaller
    than ``t`` itself; :func:`expand` rebuilds it bit for bit."""
    if not isinstance(t, torch.Tensor) or t.device.type != "cpu" or not t.is_contiguous():
        raise TypeError(f"compact: t must be a contiguous CPU tensor, got {_describe(t)}")
    if t.element_size() not in _BITS:
        raise TypeError(f"compact: t must have 1, 2, 4 or 8-byte elements, got {t.dtype}")
    return _pack(t.detach().view(_BITS[t.element_size()]).reshape(-1))


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        layout = "contiguous" if value.is_contiguous() else "non-contiguous"
        return f"a {layout} {value.dtype} tensor on {value.device}"
    return type(value).__name__


def expand(mask: torch.Tensor, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The tensor :func:`compact` stored, with ``like``'s shape and dtype."""
    if not isinstance(like, torch.Tensor) or like.element_size() != values.element_size():
        raise TypeError(f"expand: like must be a tensor with values' element size, got {_describe(like)}")
    return _unpack(mask, values, like.numel()).view(like.dtype).view(like.shape)


@dataclass
class _View:
    """A saved view that covers the whole of a packed tensor (``y.flatten(1)`` after a ReLU)."""

    base: _Shared
    shape: torch.Size

    def unpack(self) -> torch.Tensor:
        return self.base.unpack().view(self.shape)


def _whole(t: torch.Tensor, root: torch.Tensor) -> bool:
    """Whether ``t`` is ``root`` or a contiguous view of all of it."""
    if not (root.is_contiguous() and t.is_contiguous()) or t.data_ptr() != root.data_ptr():
        return False
    return t.numel() == root.numel() and root.numel() != 0


def _producer(t: torch.Tensor) -> torch.Tensor | None:
    """The ReLU-family output that ``t`` is, or is a whole contiguous view of; None otherwise."""
    root = t if t._base is None else t._base
    node = root.grad_fn
    if node is None or node.name() not in ZERO_PRODUCERS:
        return None
    if root.device.type != "cpu" or not root.is_floating_point() or root.element_size() not in _BITS:
        return None
    return root if _whole(t, root) else None


class SparseStorage(torch.autograd.graph.saved_tensors_hooks):
    """Saved ReLU-family outputs are kept as a 1-bit mask and their non-zero values while inside.

    Only tensors that are the output of a ReLU-family node (:data:`ZERO_PRODUCERS`, or a whole contiguous
    view of one) are examined, with one pass that counts their non-zero bit patterns; every other saved
    tensor passes through untouched. A tensor saved twice (a ReLU saves its output and the convolution
    after it saves the same tensor as input) is packed once and both saves share the packed copy.
    ``tally`` counts what was packed.

    Example::

        >>> with relukit.sparse.sparse_storage():
        ...     loss = model(x).sum()        # conv inputs that are ReLU outputs: mask + non-zeros
        >>> loss.backward()                  # rebuilt bit for bit

    Caveats: CPU tensors only (others pass through); packing costs a pass and a copy of the non-zeros, and
    each backward use rebuilds a dense tensor for the time of that use. A saved tensor still referenced
    elsewhere (kept by the caller) is not freed, so storing it sparse adds its packed copy: the policy pays
    off for the intermediates of a forward, which only autograd keeps. An in-place change of a saved tensor
    after it was saved raises torch's "modified by an inplace operation" error at backward while the
    tensor is alive; once it is gone, backward uses the values it had when saved (those the forward used).
    """

    def __init__(self) -> None:
        self.tally = Tally()
        self._packed: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.on_saved: Any = None  # optional callback(tensor) for every saved tensor (relukit.lean's trace)
        self._outer: list[_Hooks | None] = []
        super().__init__(self._pack, self._unpack)

    def __enter__(self) -> None:
        self._outer.append(torch._C._autograd._top_saved_tensors_default_hooks(False))
        super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._outer.pop()

    def _pack(self, t: torch.Tensor) -> Any:
        if self.on_saved is not None:
            self.on_saved(t)
        if _DERIVED:
            derived = self._derived(t)
            if derived is not None:
                return derived
        root = _producer(t)
        if root is None:
            return self._pack_dense(t)
        version, packed = self._packed.get(root, (None, None))
        if version != root._version:  # first save of this tensor (or of its new values): decide once
            packed = self._compress(root)
            self._packed[root] = (root._version, packed)
        if packed is None:
            return self._pack_dense(t)
        packed.uses += 1
        return packed if t is root else _View(packed, t.shape)

    def _derived(self, t: torch.Tensor) -> Any:
        root = t if t._base is None else t._base
        source, function, version = _DERIVED.get(root, (lambda: None, None, None))
        source = source()
        if source is None or version != root._version or not _whole(t, root):
            return None
        version, kept = self._packed.get(root, (None, None))
        if version != root._version:
            kept = _Derived(root, source, function, self._outer[-1] if self._outer else None)
            self._packed[root] = (root._version, kept)
            self.tally.derived_tensors += 1
        kept.uses += 1
        return kept if t is root else _View(kept, t.shape)

    def _pack_dense(self, t: torch.Tensor) -> Any:
        outer = self._outer[-1] if self._outer else None
        return t if outer is None else _Outer(outer[1], outer[0](t))

    def _compress(self, root: torch.Tensor) -> _Sparse | None:
        stored = _pack(root.detach().view(_BITS[root.element_size()]).reshape(-1))
        if stored is None:
            self.tally.dense_tensors += 1
            return None
        packed = _Sparse(root, *stored, root.grad_fn.name(), self._outer[-1] if self._outer else None)
        tally = self.tally
        tally.sparse_tensors += 1
        tally.dense_bytes += root.numel() * root.element_size()
        tally.stored_bytes += packed.nbytes
        tally.by_producer[packed.producer] = tally.by_producer.get(packed.producer, 0) + 1
        return packed

    @staticmethod
    def _unpack(saved: Any) -> torch.Tensor:
        return saved.unpack() if isinstance(saved, (_Shared, _View, _Outer)) else saved


@dataclass
class _Outer:
    """A tensor saved through the hooks that were active when ours were entered."""

    unpack_hook: Any
    payload: Any

    def unpack(self) -> torch.Tensor:
        return self.unpack_hook(self.payload)


def sparse_storage() -> SparseStorage:
    """A :class:`SparseStorage` context: ``with relukit.sparse.sparse_storage(): loss = model(x).sum()``."""
    return SparseStorage()
