"""Bit packing of derivative codes.

Format (shared with the Triton kernels): codes are taken in the tensor's logical (row-major) order;
with ``bits`` = 1, element i is bit ``i % 8`` of byte ``i // 8``; with ``bits`` = 2, element i is bits
``2 (i % 4)`` and ``2 (i % 4) + 1`` of byte ``i // 4``; in general, with ``bits`` = 1, 2, 4 or 8, element i
is bits ``bits (i % (8 // bits))`` upwards of byte ``i // (8 // bits)`` (the native kernels' layout). With
``bits`` = 3 (few-bit backward tables, ``relukit.fewbit``), eight codes fill three bytes: bytes ``3j .. 3j + 2``
read as one little-endian 24-bit word hold element ``8j + r`` at bits ``3r .. 3r + 2``; the last group keeps
only the bytes it needs, so ``packed_size(n, 3) = ceil(3 n / 8)``. Padding bits are unspecified.

``unpack_proxy`` expands packed codes into a float tensor holding the code values (0., 1., 2.) in the
gradient's dtype, written into a per-thread scratch buffer that is reused across calls: fresh large
allocations on CPU cost page faults that dominate an elementwise backward. The proxy feeds torch's own
backward kernels, so relukit's gradients are computed by the same instructions as torch's.

On CPU, NumPy does the bit work: ``np.packbits``/``np.unpackbits`` are SIMD loops, and NumPy's
comparisons (``pack_numpy``'s input) are faster than torch's bool-producing ones (BENCHMARKS.md, "Choices
in the code").
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch

_local = threading.local()
CHUNK = 1 << 18  # elements per NumPy chunk in pack_numpy: a multiple of 8, temporaries of ~256 KiB


def packed_size(numel: int, bits: int) -> int:
    return (numel * bits + 7) // 8


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Packs a bool mask (bits=1) or uint8 codes below ``2 ** bits`` (bits = 2, 3, 4, 8) into a flat uint8 tensor."""
    flat = codes.reshape(-1)
    if bits == 1:
        if flat.device.type == "cpu":
            return torch.from_numpy(np.packbits(flat.numpy(), bitorder="little"))
        return _pack_bits_torch(flat.to(torch.bool).contiguous())
    if bits not in (2, 3, 4, 8):
        raise ValueError(f"pack: bits must be 1, 2, 3, 4 or 8, got {bits}")
    flat = flat.to(torch.uint8)
    if bits == 8:
        return flat.contiguous()
    if bits == 3:
        return _pack_3(flat)
    per_byte = 8 // bits
    groups = torch.nn.functional.pad(flat, (0, (-flat.numel()) % per_byte)).view(-1, per_byte)
    out = groups[:, 0].clone()
    for j in range(1, per_byte):
        out |= groups[:, j] << (bits * j)
    return out


def _pack_3(flat: torch.Tensor) -> torch.Tensor:
    """Eight 3-bit codes into one 24-bit little-endian word (three bytes)."""
    numel = flat.numel()
    octets = torch.nn.functional.pad(flat, (0, (-numel) % 8)).view(-1, 8).to(torch.int32)
    word = octets[:, 0].clone()
    for r in range(1, 8):
        word |= octets[:, r] << (3 * r)
    out = torch.stack([(word >> shift) & 0xFF for shift in (0, 8, 16)], dim=1).to(torch.uint8)
    size = packed_size(numel, 3)
    return out.reshape(-1) if out.numel() == size else out.reshape(-1)[:size].clone()  # no hidden tail bytes


def _unpack_3(packed: torch.Tensor, numel: int) -> torch.Tensor:
    triples = torch.nn.functional.pad(packed, (0, (-packed.numel()) % 3)).view(-1, 3).to(torch.int32)
    word = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
    shifts = torch.arange(0, 24, 3, dtype=torch.int32, device=packed.device)
    return ((word.unsqueeze(1) >> shifts) & 7).to(torch.uint8).reshape(-1)[:numel]


def pack_numpy(codes_of: Callable[[np.ndarray], np.ndarray], x: np.ndarray, bits: int) -> torch.Tensor:
    """``pack(codes_of(x))`` with NumPy, in chunks of ``CHUNK`` elements: the temporaries of the codes
    formula then stay in cache instead of faulting in fresh pages (BENCHMARKS.md, "Choices in the code")."""
    flat = x.reshape(-1)
    per_byte = 8 // bits
    out = np.empty(packed_size(flat.size, bits), dtype=np.uint8)
    for start in range(0, flat.size, CHUNK):
        codes = codes_of(flat[start : start + CHUNK])
        if bits == 1:
            packed = np.packbits(codes, bitorder="little")
        else:
            quads = np.pad(codes.astype(np.uint8, copy=False), (0, (-codes.size) % 4)).reshape(-1, 4)
            packed = quads[:, 0] | (quads[:, 1] << 2) | (quads[:, 2] << 4) | (quads[:, 3] << 6)
        out[start // per_byte : start // per_byte + packed.size] = packed
    return torch.from_numpy(out)


def _pack_bits_torch(flat: torch.Tensor) -> torch.Tensor:
    # Eight 0/1 bytes read as one little-endian int64; the multiply gathers byte i's bit into bit 56 + i
    # (the products 2^(8i + 7j + 7) never collide), so the top byte is the packed mask.
    pad = (-flat.numel()) % 8
    words = torch.nn.functional.pad(flat.view(torch.uint8), (0, pad)).view(torch.int64)
    return ((words * 0x0102040810204080) >> 56).to(torch.uint8)


def _lookup(bits: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(256, 8 // bits) table: byte value -> its codes as floats."""
    key = ("lut", bits, dtype, device)
    table = getattr(_local, "cache", {}).get(key)
    if table is None:
        per_byte = 8 // bits
        shifts = torch.arange(per_byte, device=device) * bits
        table = ((torch.arange(256, device=device).unsqueeze(1) >> shifts) & ((1 << bits) - 1)).to(dtype)
        _local.__dict__.setdefault("cache", {})[key] = table
    return table


def _scratch(numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    cache = _local.__dict__.setdefault("cache", {})
    key = ("scratch", dtype, device)
    buffer = cache.get(key)
    if buffer is None or buffer.numel() < numel:
        buffer = torch.empty(numel, dtype=dtype, device=device)
        cache[key] = buffer
    return buffer[:numel]


def unpack(packed: torch.Tensor, bits: int, numel: int) -> torch.Tensor:
    """uint8 codes (a fresh tensor of ``numel`` elements): the inverse of ``pack``."""
    if bits == 3:
        return _unpack_3(packed, numel)
    table = _lookup(bits, torch.uint8, packed.device)
    return table[packed.long()].reshape(-1)[:numel]


def unpack_proxy(packed: torch.Tensor, bits: int, numel: int, dtype: torch.dtype) -> torch.Tensor:
    """Codes as ``dtype`` values in a reused scratch buffer (valid until the next call on this thread)."""
    per_byte = 8 // bits
    out = _scratch(packed.numel() * per_byte, dtype, packed.device)
    if bits == 1 and packed.device.type == "cpu":
        out.copy_(torch.from_numpy(np.unpackbits(packed.numpy(), bitorder="little")))
        return out[:numel]
    table = _lookup(bits, dtype, packed.device)
    torch.index_select(table, 0, packed.to(torch.int32), out=out.view(-1, per_byte))
    return out[:numel]
