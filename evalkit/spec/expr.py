"""The ``where:`` expression language: a small, safe grammar over measurements.

Hand-written tokenizer and recursive-descent parser; nothing is ever handed to
``eval``. Expressions evaluate element-wise on tensors of per-sample measurements.

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | cmp
    cmp     := sum (CMPOP sum)*  |  sum ["not"] "in" "[" expr ("," expr)* "]"
    sum     := prod (("+" | "-") prod)*
    prod    := unary (("*" | "/" | "%") unary)*
    unary   := ("-" | "+") unary | atom
    atom    := NUMBER | "true" | "false" | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

Comparison chains mean what they mean in mathematics: ``0.05 < ink < 0.7``.

Expressions are typed when parsed: measurements and numbers are numbers;
comparisons, ``in``, ``and``/``or``/``not`` and ``true``/``false`` are conditions.
Arithmetic takes numbers, ``and``/``or``/``not`` take conditions, and a ``where:``
must be a condition at the top (``where: "ink"`` is refused: it would pass every
sample with any ink). Parsing imports no torch.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:  # torch is imported where expressions are evaluated, not where they are parsed
    from types import FrameType

    from torch import Tensor

MAX_LENGTH = 2000
MAX_DEPTH = 100  # brackets inside brackets: parentheses, function calls, `in [...]` (docs/spec-validation.md)
FUNCTIONS = {"abs": (1, 1), "min": (2, 16), "max": (2, 16)}
KEYWORDS = {"and", "or", "not", "in", "true", "false"}
CMP_OPS = {"<", "<=", ">", ">=", "==", "!="}

# re.ASCII: digits are 0-9 only (Python's \d also matches '١', which float() would then read as 1)
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op><=|>=|==|!=|<|>|\+|-|\*|/|%|\(|\)|\[|\]|,))",
    re.ASCII,
)
MAX_TREE_DEPTH = MAX_DEPTH  # operators on one path of the parsed tree; evaluation recurses once per level
_FRAMES_PER_LEVEL = 8  # Python frames the parser spends per bracket: or_ -> and_ -> ... -> atom -> or_


class ExprError(ValueError):
    """A ``where:`` expression that does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, column: int):
        self.column = column
        super().__init__(f"{message} (column {column})")


@dataclass(frozen=True)
class Node:
    op: str  # num, bool, name, call, neg, bin, cmp, and, or, not, in
    args: tuple
    col: int


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its source text, tree and the measurement names it reads."""

    text: str
    tree: Node
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Return (passes, undefined) boolean tensors; an undefined sample (0/0, inf - inf, ...) fails.

        The tree is a condition (``parse_expression`` refuses anything else), so ``_eval`` gives booleans."""
        out = _eval(self.tree, values)
        undef = _undefined(self.tree, values)
        return out & ~undef, undef


def _tokens(text: str) -> list[tuple[str, str, int]]:
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ExprError(f"unexpected character {text[col - 1]!r}", col)
        kind = m.lastgroup or "op"
        start = m.start(kind) + 1
        out.append((kind, m.group(kind), start))
        pos = m.end()
    out.append(("end", "", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0  # brackets open around the current token (the top level is 1)
        self.prefix = 0  # `not` and signs in a row on the current path: tree levels, bounded while parsing

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, v, col = self.take()
        if v != value or kind == "num":
            raise ExprError(f"expected {value!r} but found {v or 'the end'!r}", col)

    def at(self, value: str) -> bool:
        kind, v, _ = self.peek()
        return v == value and kind in ("op", "name")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH + 1:  # + 1: the top level is not a bracket
            raise ExprError(f"expression nested too deeply (more than {MAX_DEPTH} levels of brackets); "
                            "split it into several requirements", self.peek()[2])

    def enter_prefix(self) -> None:
        self.prefix += 1
        if self.prefix > MAX_TREE_DEPTH:
            raise ExprError(f"expression nested too deeply (more than {MAX_TREE_DEPTH} levels of operators); "
                            "split it into several requirements", self.peek()[2])

    def parse(self) -> Node:
        node = self.or_()
        kind, v, col = self.peek()
        if kind != "end":
            raise ExprError(f"unexpected {v!r}; expected an operator or the end", col)
        return node

    def or_(self) -> Node:
        self.enter()
        node = self.and_()
        while self.at("or"):
            col = self.take()[2]
            node = Node("or", (node, self.and_()), col)
        self.depth -= 1
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("and"):
            col = self.take()[2]
            node = Node("and", (node, self.not_()), col)
        return node

    def not_(self) -> Node:
        if self.at("not"):
            col = self.take()[2]
            self.enter_prefix()
            node = Node("not", (self.not_(),), col)
            self.prefix -= 1
            return node
        return self.cmp()

    def cmp(self) -> Node:
        first = self.sum()
        kind, v, col = self.peek()
        if v == "in" or (v == "not" and self.toks[self.i + 1][1] == "in"):
            negate = v == "not"
            self.take()
            if negate:
                self.take()
            self.expect("[")
            items = [self.or_()]
            while self.at(","):
                self.take()
                items.append(self.or_())
            self.expect("]")
            node = Node("in", (first, tuple(items)), col)
            return Node("not", (node,), col) if negate else node
        operands, ops = [first], []
        while kind == "op" and v in CMP_OPS:
            self.take()
            ops.append(v)
            operands.append(self.sum())
            kind, v, col = self.peek()
        if not ops:
            return first
        return Node("cmp", (tuple(ops), tuple(operands)), first.col)

    def sum(self) -> Node:
        node = self.prod()
        while self.peek()[0] == "op" and self.peek()[1] in "+-" and self.peek()[1]:
            _, op, col = self.take()
            node = Node("bin", (op, node, self.prod()), col)
        return node

    def prod(self) -> Node:
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "%"):
            _, op, col = self.take()
            node = Node("bin", (op, node, self.unary()), col)
        return node

    def unary(self) -> Node:
        kind, v, col = self.peek()
        if kind == "op" and v in ("-", "+"):
            self.take()
            self.enter_prefix()
            inner = self.unary()
            self.prefix -= 1
            return Node("neg", (inner,), col) if v == "-" else inner
        return self.atom()

    def atom(self) -> Node:
        kind, v, col = self.take()
        if kind == "num":
            value = float(v)
            if not math.isfinite(value):
                raise ExprError(f"number {v} is out of range", col)
            return Node("num", (value,), col)
        if kind == "name":
            if v in ("true", "false"):
                return Node("bool", (v == "true",), col)
            if v in KEYWORDS:
                raise ExprError(f"unexpected keyword {v!r}; expected a value", col)
            if self.at("("):
                if v not in FUNCTIONS:
                    near = difflib.get_close_matches(v, FUNCTIONS, n=1)
                    hint = f"; did you mean {near[0]!r}?" if near else f" (functions: {', '.join(FUNCTIONS)})"
                    raise ExprError(f"unknown function {v!r}{hint}", col)
                self.take()
                args = [self.or_()]
                while self.at(","):
                    self.take()
                    args.append(self.or_())
                self.expect(")")
                lo, hi = FUNCTIONS[v]
                if not lo <= len(args) <= hi:
                    raise ExprError(f"{v}() takes {lo}{'' if lo == hi else f' to {hi}'} argument(s), got {len(args)}", col)
                return Node("call", (v, tuple(args)), col)
            return Node("name", (v,), col)
        if v == "(":
            node = self.or_()
            self.expect(")")
            return node
        raise ExprError(f"expected a number, a name or '(' but found {v or 'the end'!r}", col)


def _children(node: Node) -> list[Node]:
    out = []
    for a in node.args:
        if isinstance(a, Node):
            out.append(a)
        elif isinstance(a, tuple):
            out.extend(b for b in a if isinstance(b, Node))
    return out


def _names(node: Node) -> set[tuple[str, int]]:
    """(name, column) of every measurement the tree reads (iteratively: a long chain is a deep tree)."""
    out: set[tuple[str, int]] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.op == "name":
            out.add((n.args[0], n.col))
        stack.extend(_children(n))
    return out


def _check_depth(tree: Node) -> None:
    """Refuse more than MAX_TREE_DEPTH operators on one path (leaves not counted), measured
    iteratively (``1+1+...+1`` is a left-deep chain)."""
    stack = [(tree, 0)]
    while stack:
        n, above = stack.pop()
        d = above + (n.op not in ("num", "bool", "name"))
        if d > MAX_TREE_DEPTH:
            raise ExprError(f"expression nested too deeply (more than {MAX_TREE_DEPTH} levels of operators); "
                            "split it into several requirements", n.col)
        stack.extend((c, d) for c in _children(n))


def _parse_with_room(text: str) -> Node:
    """Parse with room on the stack for MAX_DEPTH levels wherever the caller stands (a deep caller,
    such as a test runner, would otherwise hit Python's limit below the documented depth)."""
    import sys

    old = sys.getrecursionlimit()
    need = _stack_depth() + _FRAMES_PER_LEVEL * (MAX_DEPTH + 2) + 2 * (MAX_TREE_DEPTH + 2) + 100
    try:
        sys.setrecursionlimit(max(old, need))
        return _Parser(text).parse()
    except RecursionError:  # a last guard: MAX_DEPTH is refused before the raised limit is reached
        raise ExprError(f"expression nested too deeply (more than {MAX_DEPTH} levels)", 1) from None
    finally:
        sys.setrecursionlimit(old)


def _stack_depth() -> int:
    """Frames on the current Python stack."""
    import sys

    frame: FrameType | None = sys._getframe()
    n = 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def parse_expression(text: str, known: Callable[[str], bool] | None = None, suggest: Callable[[str], str | None] | None = None) -> Expression:
    """Parse ``text``; with ``known``, every name must be a known measurement.

    Without ``known`` the measurement registry is used.
    """
    if not isinstance(text, str):
        raise ExprError(f"a where: expression is a string, got {type(text).__name__}", 1)
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if not text.strip():
        raise ExprError("empty expression", 1)
    tree = _parse_with_room(text)
    _check_depth(tree)
    if _type(tree) != BOOL:
        raise ExprError(
            "a where: expression must be a condition (a comparison such as `ink > 0.05`, `in [...]`, "
            "and/or/not, true/false), but this one is a number", tree.col
        )
    names = _names(tree)
    if known is None:
        from .. import registry

        registry.load_plugins()
        known, suggest = (lambda n: n in registry.measurements), registry.measurements.suggest
    for name, col in sorted(names, key=lambda x: x[1]):
        if not known(name):
            near = suggest(name) if suggest else None
            hint = f"; did you mean {near!r}?" if near else ""
            raise ExprError(f"unknown measurement {name!r}{hint}", col)
    return Expression(text, tree, frozenset(n for n, _ in names))


NUM, BOOL = "number", "condition"
_NUMERIC_OPS = ("neg", "bin", "call")


def _type(node: Node) -> str:
    """NUM or BOOL; raises ExprError at the first operand of the wrong type."""
    op, a = node.op, node.args
    if op in ("num", "name"):
        return NUM
    if op == "bool":
        return BOOL
    if op in _NUMERIC_OPS:
        for x in (a[1:] if op == "bin" else (a[1] if op == "call" else a)):
            _expect(x, NUM, f"{_OP_WORDS[op]} takes numbers")
        return NUM
    if op == "cmp":
        _check_comparison(*a)
    elif op in ("and", "or", "not"):
        for x in a:
            _expect(x, BOOL, f"`{op}` combines conditions (e.g. `ink > 0.05 {op if op != 'not' else 'and'} ...`)")
    else:  # op == "in"
        _expect(a[0], NUM, "`in` tests a number")
        for x in a[1]:
            _expect(x, NUM, "the list of `in` holds numbers")
    return BOOL


def _check_comparison(ops: tuple, operands: tuple) -> None:
    """Numbers compare with any operator; conditions only with == and !=."""
    kinds = {_type(x) for x in operands}
    if kinds != {NUM} and (kinds != {BOOL} or any(o not in ("==", "!=") for o in ops)):
        bad = next(x for x in operands if _type(x) == BOOL)
        raise ExprError("a comparison compares numbers; this side is already a condition", bad.col)


_OP_WORDS = {"neg": "a minus sign", "bin": "arithmetic", "call": "a function"}


def _expect(node: Node, kind: str, why: str) -> None:
    got = _type(node)
    if got != kind:
        raise ExprError(f"{why}, but this is a {got}", node.col)


def _num(x: Tensor) -> Tensor:
    import torch

    return x.to(torch.float64) if x.dtype == torch.bool else x


def _eval(node: Node, env: Mapping[str, Tensor]) -> Tensor:
    return _EVAL[node.op](node.args, env)


def _const(a, env):
    import torch

    return torch.tensor(a[0], dtype=torch.float64) if not isinstance(a[0], bool) else torch.tensor(a[0])


def _name(a, env):
    import torch

    return env[a[0]].to(torch.float64)


def _bin(a, env):
    import torch

    sym, left, right = a
    x, y = _num(_eval(left, env)), _num(_eval(right, env))
    if sym == "%":  # x % 0 -> nan (flagged as undefined), as x / 0 -> inf
        return torch.where(y == 0, torch.full_like(x * y, math.nan), torch.remainder(x, torch.where(y == 0, torch.ones_like(y), y)))
    return {"+": x + y, "-": x - y, "*": x * y, "/": x / y}[sym]  # 0/0 -> nan, x/0 -> inf: undefined, never raised


def _call(a, env):
    import torch

    fname, args = a
    vals = [_num(_eval(x, env)) for x in args]
    if fname == "abs":
        return vals[0].abs()
    out = vals[0]
    for v in vals[1:]:
        out = torch.minimum(out, v) if fname == "min" else torch.maximum(out, v)
    return out


def _cmp(a, env):
    ops, operands = a
    vals = [_num(_eval(x, env)) for x in operands]
    result = None
    for sym, x, y in zip(ops, vals, vals[1:]):
        r = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[sym]
        result = r if result is None else result & r
    return result


def _in(a, env):
    import torch

    x = _num(_eval(a[0], env))
    result = torch.zeros_like(x, dtype=torch.bool)
    for item in a[1]:
        result = result | (x == _num(_eval(item, env)))
    return result


# one evaluator per node kind; and/or/not take conditions (typed at parse time)
_EVAL = {
    "num": _const, "bool": _const, "name": _name, "neg": lambda a, env: -_num(_eval(a[0], env)), "bin": _bin,
    "call": _call, "cmp": _cmp, "in": _in, "not": lambda a, env: ~_eval(a[0], env),
    "and": lambda a, env: _eval(a[0], env) & _eval(a[1], env), "or": lambda a, env: _eval(a[0], env) | _eval(a[1], env),
}


def _undefined(node: Node, env: Mapping[str, Tensor]) -> Tensor:
    """Samples where some arithmetic sub-expression is not finite."""
    import torch

    out = torch.tensor(False)
    stack = [node]
    while stack:
        n = stack.pop()
        if n.op in ("bin", "neg", "call", "name"):  # an arithmetic value: its own finiteness covers its parts
            out = out | ~torch.isfinite(_num(_eval(n, env)))
        else:
            stack.extend(_children(n))
    return out
