"""Small, realistic bugs to inject into a function: AST-located, applied as minimal text edits.

``find_mutations(path, source)`` lists every candidate in the bodies of a module's functions:
a flipped or off-by-one comparison, a swapped arithmetic operator or swapped operands, ``and`` for
``or``, a removed ``not``, a negated condition, a changed constant, ``min`` for ``max``, a
dropped early-return branch, a return value dropped... Each is an edit of the original text (the
node's own characters), so the diff is one small change and the code around it keeps its
formatting. Only single-line expressions are edited; the early-return removal may span lines.
Which candidates make real bugs is for the project's tests to say (``generate.py`` keeps those
that at least one test catches).
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

__all__ = ["Mutation", "find_mutations"]


@dataclass(frozen=True)
class Mutation:
    """One candidate bug.

    Attributes:
        path: the file, relative to the repository root.
        function: qualified name of the function it is in (``Class.method``).
        line: 1-based line of the edit.
        kind: the operator (``flip_comparison``, ``boundary``, ``arithmetic``, ``swap_operands``,
            ``bool_op``, ``remove_not``, ``negate_condition``, ``constant``, ``min_max``,
            ``drop_branch``, ``drop_return_value``, ``break_continue``, ``aug_assign``).
        description: what changed, e.g. ``'<' -> '<='`` (for records; never shown to an agent).
        start: character offset where the edit starts.
        end: character offset where it ends.
        replacement: the new text for ``source[start:end]``.
    """

    path: str
    function: str
    line: int
    kind: str
    description: str
    start: int
    end: int
    replacement: str

    def apply(self, source: str) -> str:
        """The mutated source."""
        return source[: self.start] + self.replacement + source[self.end :]


_FLIP = {
    ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.Lt: ("<", ">="), ast.GtE: (">=", "<"),
    ast.Gt: (">", "<="), ast.LtE: ("<=", ">"), ast.In: ("in", "not in"), ast.NotIn: ("not in", "in"),
    ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"),
}  # fmt: skip
_BOUNDARY = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">"}
_ARITH = {
    ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "//"), ast.FloorDiv: ("//", "*"),
    ast.Div: ("/", "*"), ast.Mod: ("%", "//"), ast.LShift: ("<<", ">>"), ast.RShift: (">>", "<<"),
    ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&"), ast.Pow: ("**", "*"),
}  # fmt: skip
_NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift)
_AUG = {ast.Add: ("+=", "-="), ast.Sub: ("-=", "+=")}
# Operands that need parentheses when moved to the other side of a binary operator.
_LOOSE = (ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Lambda, ast.NamedExpr, ast.UnaryOp)


class _Text:
    """Maps AST positions (line, UTF-8 byte column) to character offsets in the source."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def text(self, node: ast.AST) -> str:
        a, b = self.span(node)
        return self.source[a:b]


def _one_line(node: ast.AST) -> bool:
    return getattr(node, "lineno", None) is not None and node.lineno == node.end_lineno


def _find_op(gap: str, words: str) -> tuple[int, int] | None:
    """Where the operator ``words`` (e.g. ``"not in"``) is in the text between two operands."""
    wanted = words.split()
    toks = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(gap).readline):
            if t.type in (tokenize.OP, tokenize.NAME):
                toks.append(t)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # an unbalanced '(' in the gap ends tokenizing at its end: what came before still counts
    strings = [t.string for t in toks]
    hits = [i for i in range(len(toks) - len(wanted) + 1) if strings[i : i + len(wanted)] == wanted]
    if len(hits) != 1 or "\n" in gap:
        return None
    first, last = toks[hits[0]], toks[hits[0] + len(wanted) - 1]
    return first.start[1], last.end[1]


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str, text: _Text) -> None:
        self.path = path
        self.text = text
        self.scope: list[str] = []
        self.in_function = 0
        self.found: list[Mutation] = []

    # --- scopes: only function bodies (and argument defaults) are mutated ---

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.in_function += 1
        for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(default)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        for stmt in body:
            self.visit(stmt)
        self.in_function -= 1
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.body)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # positions inside f-strings are unreliable before 3.12

    # --- helpers ---

    def _add(self, node: ast.AST, kind: str, description: str, start: int, end: int, replacement: str) -> None:
        if not self.in_function:
            return
        self.found.append(
            Mutation(self.path, ".".join(self.scope), node.lineno, kind, description, start, end, replacement)
        )

    def _op_between(self, left: ast.AST, right: ast.AST, words: str) -> tuple[int, int] | None:
        a = self.text.offset(left.end_lineno, left.end_col_offset)
        b = self.text.offset(right.lineno, right.col_offset)
        where = _find_op(self.text.source[a:b], words)
        return None if where is None else (a + where[0], a + where[1])

    # --- the operators ---

    def visit_Compare(self, node: ast.Compare) -> None:
        if _one_line(node):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                old, new = _FLIP[type(op)]
                where = self._op_between(operands[i], operands[i + 1], old)
                if where is None:
                    continue
                self._add(node, "flip_comparison", f"{old!r} -> {new!r}", *where, new)
                if type(op) in _BOUNDARY:
                    self._add(node, "boundary", f"{old!r} -> {_BOUNDARY[type(op)]!r}", *where, _BOUNDARY[type(op)])
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        texty = any(
            isinstance(x, ast.JoinedStr) or (isinstance(x, ast.Constant) and isinstance(x.value, str | bytes))
            for x in (node.left, node.right)
        )
        if _one_line(node) and type(node.op) in _ARITH and not texty:
            old, new = _ARITH[type(node.op)]
            where = self._op_between(node.left, node.right, old)
            if where is not None:
                self._add(node, "arithmetic", f"{old!r} -> {new!r}", *where, new)
                if isinstance(node.op, _NON_COMMUTATIVE):
                    left, right = self.text.text(node.left), self.text.text(node.right)
                    a, _ = self.text.span(node.left)
                    _, b = self.text.span(node.right)
                    middle = self.text.source[self.text.span(node.left)[1] : self.text.span(node.right)[0]]
                    if left != right and "(" not in middle and ")" not in middle:
                        wrap = lambda n, s: f"({s})" if isinstance(n, _LOOSE) else s  # noqa: E731
                        swapped = wrap(node.right, right) + middle + wrap(node.left, left)
                        self._add(node, "swap_operands", f"{left} {old} {right} -> {right} {old} {left}", a, b, swapped)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if _one_line(node) and type(node.op) in _AUG:
            old, new = _AUG[type(node.op)]
            where = self._op_between(node.target, node.value, old)
            if where is not None:
                self._add(node, "aug_assign", f"{old!r} -> {new!r}", *where, new)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        if _one_line(node):
            old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            spots = [self._op_between(a, b, old) for a, b in zip(node.values, node.values[1:], strict=False)]
            if spots and all(s is not None for s in spots):
                start, end = spots[0][0], spots[-1][1]
                chunk = self.text.source[start:end]
                # every operator of the chain changes, so `a and b and c` becomes `a or b or c`
                pieces, last = [], start
                for s, e in spots:
                    pieces.append(self.text.source[last:s] + new)
                    last = e
                pieces.append(self.text.source[last:end])
                if chunk:
                    self._add(node, "bool_op", f"{old!r} -> {new!r}", start, end, "".join(pieces))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if _one_line(node) and isinstance(node.op, ast.Not):
            start, _ = self.text.span(node)
            inner_start, _ = self.text.span(node.operand)
            if self.text.source[start:inner_start].strip() == "not":
                self._add(node, "remove_not", "'not x' -> 'x'", start, inner_start, "")
        self.generic_visit(node)

    def _negate(self, node: ast.AST, test: ast.AST) -> None:
        if _one_line(test) and not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
            start, end = self.text.span(test)
            body = self.text.text(test)
            new = f"not ({body})" if isinstance(test, _LOOSE) else f"not {body}"
            self._add(node, "negate_condition", f"'{body}' -> '{new}'", start, end, new)

    def visit_If(self, node: ast.If) -> None:
        self._negate(node, node.test)
        body = node.body
        if (
            len(body) == 1
            and isinstance(body[0], ast.Return)
            and body[0].value is not None
            and not node.orelse
            and self.in_function
        ):
            start = self.text.offset(node.lineno, node.col_offset)
            end = self.text.offset(node.end_lineno, node.end_col_offset)
            # `elif` shares its line with nothing we could replace by `pass`
            if self.text.source[start:end].startswith("if"):
                self._add(node, "drop_branch", "early-return branch removed", start, end, "pass")
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node, node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node, node.test)
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        value = node.value
        if value is not None and _one_line(value) and not (isinstance(value, ast.Constant) and value.value is None):
            start, end = self.text.span(value)
            what = f"'return {self.text.text(value)}' -> 'return None'"
            self._add(node, "drop_return_value", what, start, end, "None")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not _one_line(node):
            return
        start, end = self.text.span(node)
        old = self.text.source[start:end]
        if isinstance(node.value, bool):
            new = "False" if node.value else "True"
            self._add(node, "constant", f"{old} -> {new}", start, end, new)
        elif isinstance(node.value, int) and old.isdigit():
            self._add(node, "constant", f"{old} -> {node.value + 1}", start, end, str(node.value + 1))
            if node.value > 0:
                self._add(node, "constant", f"{old} -> {node.value - 1}", start, end, str(node.value - 1))

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ("min", "max") and _one_line(node.func):
            new = "max" if node.func.id == "min" else "min"
            self._add(node, "min_max", f"{node.func.id} -> {new}", *self.text.span(node.func), new)
        self.generic_visit(node)

    def visit_Break(self, node: ast.Break) -> None:
        self._add(node, "break_continue", "break -> continue", *self.text.span(node), "continue")

    def visit_Continue(self, node: ast.Continue) -> None:
        self._add(node, "break_continue", "continue -> break", *self.text.span(node), "break")


def find_mutations(path: str, source: str) -> list[Mutation]:
    """Every candidate mutation in the function bodies of one module, in source order.

    Candidates whose result does not parse are left out. A module that does not parse has none.

    Example:
        >>> src = "def last(xs):\\n    return xs[len(xs) - 1]\\n"
        >>> sorted({m.kind for m in find_mutations("m.py", src)})
        ['arithmetic', 'constant', 'drop_return_value', 'swap_operands']
        >>> [m for m in find_mutations("m.py", src) if m.kind == "arithmetic"][0].apply(src)
        'def last(xs):\\n    return xs[len(xs) + 1]\\n'
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    finder = _Finder(path, _Text(source))
    finder.visit(tree)
    seen: set[str] = set()
    result = []
    for m in sorted(finder.found, key=lambda m: (m.start, m.end, m.kind, m.replacement)):
        mutated = m.apply(source)
        if mutated == source or mutated in seen:
            continue
        try:
            ast.parse(mutated)
        except (SyntaxError, ValueError):
            continue
        seen.add(mutated)
        result.append(m)
    return result
