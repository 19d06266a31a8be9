"""Triton source generated from the catalog: the kernels never restate an activation.

``forward_expressions`` calls a catalog entry's own functions, ``codes(x, xp, **p)`` and
``kernel_forward(x, xp, **p)``, with ``xp`` a symbolic ``Namespace`` whose operations return Triton
expressions (``Expr``) instead of values. The
backward expression is built from ``slopes(**p)`` and ``backward`` ("select" or "multiply"). Parameters
are concrete at trace time (the catalog branches on them, e.g. rectify without ``max_value``), so one
kernel module is generated per member and parameter set and cached.

Arithmetic runs in float32 registers; every floating result of ``+ - * /`` is rounded to the I/O dtype
right away, as torch does when it evaluates the same formula op by op on fp16/bf16 tensors (a no-op for
fp32). The packed-code layout is ``relukit._ops.packing``'s: element i is bits ``bits * (i % per_byte)``
onwards of byte ``i // per_byte``; padding bits are zero.

This module imports neither torch nor triton: ``forward_source``/``backward_source`` return plain text
(``relukit.kernels.ops`` compiles it; ``relukit.kernels.source(name, **params)`` shows it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from relukit import catalog
from relukit._expressions import _BOOL, _FLOAT, _UINT8, Expr
from relukit._expressions import Namespace as _Namespace


class Triton:
    """How expressions are written in Triton source (``Cpp`` in ``relukit._ops.native`` is the C++ twin)."""

    def constant(self, value: float) -> str:
        return repr(float(value))  # fp32 literal in Triton: the same rounding as torch's float(scalar)

    def round(self, text: str) -> str:
        return f"_round({text}, OUT)"

    def where(self, condition: str, a: str, b: str) -> str:
        return f"tl.where({condition}, {a}, {b})"

    def minimum(self, a: str, b: str) -> str:  # NaN-propagating, as the array API (and torch.minimum) require
        return f"tl.minimum({a}, {b}, propagate_nan=tl.PropagateNan.ALL)"

    def maximum(self, a: str, b: str) -> str:
        return f"tl.maximum({a}, {b}, propagate_nan=tl.PropagateNan.ALL)"

    def logical_not(self, text: str) -> str:
        return f"({text} == 0)"

    def astype(self, text: str, kind: str) -> str:
        target = {_BOOL: "tl.int1", _UINT8: "tl.uint8", _FLOAT: "tl.float32"}[kind]
        return f"({text}).to({target})"

    def exp(self, text: str) -> str:
        return f"tl.exp({text})"


_TRITON = Triton()


def Namespace() -> _Namespace:  # noqa: N802 (the generator's xp, Triton flavoured)
    return _Namespace(_TRITON)


def forward_expressions(entry: catalog.Activation, params: dict[str, Any]) -> tuple[str, str]:
    """(y, codes) as Triton expressions of the float32 register ``x``."""
    xp, x = Namespace(), Expr("x", _FLOAT, _TRITON)
    y = entry.kernel_forward(x, xp, **params)
    codes = entry.codes(x, xp, **params)
    if not isinstance(y, Expr) or not isinstance(codes, Expr):
        raise TypeError(f"relukit.kernels: {entry.name}'s formulas did not trace to expressions of x")
    return y.text, codes.text


def backward_expression(slopes: tuple[float, ...], multiply: bool) -> str:
    """``grad * slopes[code]`` as torch computes it: slope 1 passes grad; slope 0 gives 0 ("select") or
    grad * 0 ("multiply", which keeps NaN and the sign of zero, as torch's leaky_relu_backward)."""
    values = []
    for slope in slopes:
        if slope == 1.0:
            values.append("grad")
        elif slope == 0.0 and not multiply:
            values.append("0.0")
        else:
            values.append(f"grad * {float(slope)!r}")
    result = values[-1]
    for code in reversed(range(len(values) - 1)):
        result = f"tl.where(code == {code}, {values[code]}, {result})"
    return result


_HEADER = '''\
"""relukit.kernels, generated from the catalog: {title}."""
import triton
import triton.language as tl


BF16_BY_HAND = tl.constexpr({bf16_by_hand})  # the interpreter truncates fp32 -> bf16; GPUs round to nearest even


@triton.jit
def _narrow(value, OUT: tl.constexpr):
    """float32 -> the I/O dtype, rounded to nearest even (by hand for bf16 under the interpreter)."""
    if BF16_BY_HAND and OUT == tl.bfloat16:
        bits = value.to(tl.uint32, bitcast=True)
        rounded = tl.where(value != value, bits | 0x400000, bits + (0x7FFF + ((bits >> 16) & 1)))
        result = (rounded >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True)
    else:
        result = value.to(OUT)
    return result


@triton.jit
def _round(value, OUT: tl.constexpr):
    return _narrow(value, OUT).to(tl.float32)


@triton.jit
def _rows(WIDE: tl.constexpr, ROWS: tl.constexpr):
    """This program's rows of packed bytes (int64 indices only where int32 could overflow)."""
    first = tl.program_id(0)
    if WIDE:
        first = first.to(tl.int64)
    return first * ROWS + tl.arange(0, ROWS)
'''

_FORWARD = """

@triton.jit
def forward_kernel(
    x_ptr, bias_ptr, y_ptr, codes_ptr, n, channels, inner,
    HAS_BIAS: tl.constexpr, STORE_CODES: tl.constexpr, WIDE: tl.constexpr, BLOCK: tl.constexpr,
):
    OUT: tl.constexpr = y_ptr.dtype.element_ty
    rows = _rows(WIDE, BLOCK // {per_byte})
    lanes = tl.arange(0, {per_byte})
    offsets = rows[:, None] * {per_byte} + lanes[None, :]
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + (offsets // inner) % channels, mask=mask, other=0.0).to(tl.float32)
        x = _round(x + bias, OUT)
    y = {forward}
    tl.store(y_ptr + offsets, _narrow(y, OUT), mask=mask)
    if STORE_CODES:
        code = tl.where(mask, ({codes}).to(tl.uint8), 0).to(tl.uint8)
        packed = tl.sum(code << (lanes * {bits}).to(tl.uint8)[None, :], axis=1).to(tl.uint8)
        tl.store(codes_ptr + rows, packed, mask=rows * {per_byte} < n)
"""

_BACKWARD = """

@triton.jit
def backward_kernel(grad_ptr, codes_ptr, out_ptr, n, WIDE: tl.constexpr, BLOCK: tl.constexpr):
    rows = _rows(WIDE, BLOCK // {per_byte})
    lanes = tl.arange(0, {per_byte})
    offsets = rows[:, None] * {per_byte} + lanes[None, :]
    mask = offsets < n
    packed = tl.load(codes_ptr + rows, mask=rows * {per_byte} < n, other=0)
    code = (packed[:, None] >> (lanes * {bits}).to(tl.uint8)[None, :]) & {code_mask}
    grad = tl.load(grad_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    result = {backward}
    tl.store(out_ptr + offsets, _narrow(result, out_ptr.dtype.element_ty), mask=mask)
"""


def _layout(bits: int) -> dict[str, int]:
    return {"bits": bits, "per_byte": 8 // bits, "code_mask": (1 << bits) - 1}


def forward_source(entry: catalog.Activation, params: dict[str, Any], interpret: bool = False) -> str:
    """The Triton module with ``forward_kernel`` for a member and its checked ``params``."""
    if not entry.piecewise_linear:
        raise ValueError(f"relukit.kernels: {entry.name} is not piecewise-linear; it has no derivative codes")
    forward, codes = forward_expressions(entry, params)
    described = ", ".join(f"{k}={v!r}" for k, v in params.items())
    header = _HEADER.format(title=f"{entry.name}({described}) forward", bf16_by_hand=interpret)
    return header + _FORWARD.format(forward=forward, codes=codes, **_layout(entry.code_bits(**params)))


def backward_source(slopes: tuple[float, ...], multiply: bool, interpret: bool = False) -> str:
    """The Triton module with ``backward_kernel``: grad * slopes[code] (1 bit for 2 slopes, 2 for 3)."""
    bits = 1 if len(slopes) <= 2 else 2
    semantics = "multiply" if multiply else "select"
    header = _HEADER.format(title=f"backward, slopes {list(slopes)}, {semantics}", bf16_by_hand=interpret)
    return header + _BACKWARD.format(backward=backward_expression(slopes, multiply), **_layout(bits))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
