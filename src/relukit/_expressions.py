"""Catalog formulas traced into source text: the kernel generators' shared front end.

A catalog entry's own functions (``codes(x, xp, **p)``, ``kernel_forward(x, xp, **p)``) are called with
``xp`` a symbolic ``Namespace`` whose operations return ``Expr`` objects (source text and a kind: float,
bool or uint8) instead of values. A *dialect* writes the text: ``relukit.kernels.codegen.Triton`` for the
Triton kernels, ``relukit._ops.native.Cpp`` for the native CPU kernels. Every floating result of
``+ - * /`` goes through ``dialect.round``: torch rounds to the I/O dtype after each op when it evaluates
a formula op by op on fp16/bf16 tensors. This module imports neither torch nor triton.
"""

from __future__ import annotations

from typing import Any

FLOAT, BOOL, UINT8 = "float", "bool", "uint8"
_FLOAT, _BOOL, _UINT8 = FLOAT, BOOL, UINT8


class Expr:
    """An expression (source text in ``dialect``) and its kind: float, bool or uint8."""

    __slots__ = ("text", "kind", "dialect")
    __hash__ = None  # comparisons build expressions, so Expr cannot be a dict key

    def __init__(self, text: str, kind: str, dialect: Any):
        self.text, self.kind, self.dialect = text, kind, dialect

    def __bool__(self):
        raise TypeError(
            "relukit.kernels: a catalog formula branches on array values (`if x ...`); "
            "write the branch with xp.where so that it can be generated"
        )

    def _new(self, text: str, kind: str) -> Expr:
        return Expr(text, kind, self.dialect)

    def _compare(self, other, op):
        return self._new(f"({self.text} {op} {_text(other, self.dialect)})", _BOOL)

    def _arith(self, other, op, reverse=False):
        mine, theirs = self.text, _text(other, self.dialect)
        left, right = (theirs, mine) if reverse else (mine, theirs)
        if self.kind == _FLOAT or (isinstance(other, Expr) and other.kind == _FLOAT) or isinstance(other, float):
            return self._new(self.dialect.round(f"{left} {op} {right}"), _FLOAT)
        return self._new(f"({left} {op} {right})", self.kind)

    def _logic(self, other, op):
        return self._new(f"({self.text} {op} {_text(other, self.dialect)})", _BOOL)

    __lt__ = lambda self, o: self._compare(o, "<")
    __le__ = lambda self, o: self._compare(o, "<=")
    __gt__ = lambda self, o: self._compare(o, ">")
    __ge__ = lambda self, o: self._compare(o, ">=")
    __eq__ = lambda self, o: self._compare(o, "==")
    __ne__ = lambda self, o: self._compare(o, "!=")
    __add__ = lambda self, o: self._arith(o, "+")
    __radd__ = lambda self, o: self._arith(o, "+", True)
    __sub__ = lambda self, o: self._arith(o, "-")
    __rsub__ = lambda self, o: self._arith(o, "-", True)
    __mul__ = lambda self, o: self._arith(o, "*")
    __rmul__ = lambda self, o: self._arith(o, "*", True)
    __truediv__ = lambda self, o: self._arith(o, "/")
    __rtruediv__ = lambda self, o: self._arith(o, "/", True)
    __and__ = lambda self, o: self._logic(o, "&")
    __or__ = lambda self, o: self._logic(o, "|")

    def __invert__(self):
        if self.kind != _BOOL:
            raise TypeError("relukit.kernels: ~ is only generated for masks")
        return self._new(self.dialect.logical_not(self.text), _BOOL)

    def __neg__(self):
        return self._new(f"(-{self.text})", self.kind)


def _text(value: Any, dialect: Any) -> str:
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"relukit.kernels: cannot generate a constant from {value!r}")
    return dialect.constant(value)


def _kind(*values: Any) -> str:
    kinds = {v.kind for v in values if isinstance(v, Expr)}
    return _FLOAT if _FLOAT in kinds or not kinds or any(isinstance(v, float) for v in values) else kinds.pop()


class Namespace:
    """The slice of the array API that catalog formulas use, recording expressions in ``dialect``."""

    bool, uint8, float32 = _BOOL, _UINT8, _FLOAT

    def __init__(self, dialect: Any):
        self.dialect = dialect

    def _expr(self, text: str, kind: str) -> Expr:
        return Expr(text, kind, self.dialect)

    def _texts(self, *values: Any) -> list[str]:
        return [_text(v, self.dialect) for v in values]

    def where(self, condition, a, b):
        return self._expr(self.dialect.where(*self._texts(condition, a, b)), _kind(a, b))

    def minimum(self, a, b):
        return self._expr(self.dialect.minimum(*self._texts(a, b)), _kind(a, b))

    def maximum(self, a, b):
        return self._expr(self.dialect.maximum(*self._texts(a, b)), _kind(a, b))

    def clip(self, x, low, high):
        return self.minimum(self.maximum(x, low), high)

    def isnan(self, x):
        text = _text(x, self.dialect)
        return self._expr(f"({text} != {text})", _BOOL)

    def astype(self, x, dtype):
        return self._expr(self.dialect.astype(_text(x, self.dialect), dtype), dtype)

    def exp(self, x):
        return self._expr(self.dialect.exp(_text(x, self.dialect)), _FLOAT)

    def __getattr__(self, name):
        raise AttributeError(
            f"relukit.kernels: the kernel generator has no xp.{name} (add it to relukit/_expressions.py)"
        )
