"""McCabe's cyclomatic complexity, counted from the AST (shared by the structure tests).

1 + one per branch point: if, ternary, for, while, except, assert, each extra
operand of and/or, each comprehension and each of its ifs, each match case.
Nested functions and classes are counted on their own, as ``mccabe`` does.
"""

import ast
from pathlib import Path
from typing import Iterator


def complexity(fn: ast.AST) -> int:
    n = 1
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.Assert)):
            n += 1
        elif isinstance(node, ast.BoolOp):
            n += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            n += 1 + len(node.ifs)
        elif isinstance(node, ast.match_case):
            n += 1
        stack.extend(ast.iter_child_nodes(node))
    return n


def functions(root: Path, pattern: str = "**/*.py") -> Iterator[tuple[str, int]]:
    """(``path/relative/to/root.py::qualified.name``, complexity) for every function under ``root``."""
    for path in sorted(root.glob(pattern)):
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(root).as_posix()
        yield from _walk(tree, rel, "")


def _walk(node: ast.AST, rel: str, prefix: str) -> Iterator[tuple[str, int]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + child.name
            yield f"{rel}::{name}", complexity(child)
            yield from _walk(child, rel, name + ".")
        elif isinstance(child, ast.ClassDef):
            yield from _walk(child, rel, prefix + child.name + ".")
        else:
            yield from _walk(child, rel, prefix)
