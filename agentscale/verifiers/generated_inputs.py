"""Inputs for a function beyond its docstring's examples, made without the hidden tests.

Two sources, both ending as calls of the entry point with literal arguments (``f(1, [2, 3])``):

- **mutation** of the examples' arguments, type-aware: numbers nudged, sign-flipped and set to
  small edge values; strings emptied, reversed, shortened, re-cased; lists emptied, reversed,
  extended, shortened, sorted, an element mutated; plus the edge values of every type the
  examples show (``0``, ``""``, ``[]``...). One argument changes per call, as AlphaCode does.
- **the model** (``ModelInputs``): asked for asserts on the function, it writes calls and the
  values it expects. Its text is only *parsed* on the host (``ast.parse``, then
  ``ast.literal_eval`` of each argument): a call whose arguments are not plain literals is
  dropped, and nothing the model wrote is ever executed outside a sandbox.

Both are bounded: at most ``limit`` calls, each at most ``MAX_CALL_CHARS`` long, and mutations
never grow a value by more than a few elements, so a correct but slow program is not mistaken for
a hanging one. Which inputs are worth keeping (some candidate returns a value on them) is decided
by running them, in ``agentscale.verifiers.behaviour``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from agentscale.errors import BudgetExhausted, ModelError
from agentscale.protocols import Model
from agentscale.types import Task, Usage
from agentscale.verifiers._checks import is_safe_literal
from agentscale.verifiers._examples import extract_examples
from agentscale.verifiers._literals import (
    MAX_CALL_CHARS,
    argument_ok,
    call_node,
    literal,
    literal_source,
    plain_call,
    render,
)
from agentscale.verifiers._mutation import mutate_calls, typed_calls
from agentscale.verifiers._program import code_prompt, entry_point

__all__ = [
    "MAX_CALL_CHARS",
    "GeneratedInput",
    "ModelInputs",
    "ModelTest",
    "ModelWritten",
    "example_calls",
    "generate_inputs",
    "literal_source",
    "mutate_calls",
    "parse_model_calls",
]


@dataclass(frozen=True)
class GeneratedInput:
    """One call of the entry point with literal arguments.

    Attributes:
        call: its source, e.g. ``"f(1, [2, 3])"``.
        origin: ``"example"`` (from the docstring), ``"model"``, ``"signature"`` (built from the
            parameters' types or names when there is no example) or ``"mutation"``.
    """

    call: str
    origin: str


@dataclass(frozen=True)
class ModelTest:
    """An assert the model wrote: ``call`` should return ``expected`` (a literal's source)."""

    call: str
    expected: str


@dataclass
class ModelWritten:
    """What ``ModelInputs.write`` got from the model.

    Attributes:
        calls: parsed calls (arguments are literals), deduplicated, in the order written.
        tests: parsed asserts ``call == expected``.
        usage: what the request cost.
        note: why nothing came back, when nothing did (model failure, budget, unreadable reply).
        text: the raw reply.
    """

    calls: list[str] = field(default_factory=list)
    tests: list[ModelTest] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    note: str = ""
    text: str = ""


def example_calls(task: Task) -> list[str]:
    """The calls of the entry point in the task's docstring examples (arguments that are literals).

    Args:
        task: a coding task with ``metadata["entry_point"]`` (and the code prompt).

    Returns:
        Call sources with the entry point's name, deduplicated, in docstring order.
    """
    entry = entry_point(task)
    if not entry:
        return []
    examples = extract_examples(code_prompt(task), entry)
    calls: list[str] = []
    for check in examples.checks:
        if check.kind not in ("compare", "raises"):
            continue
        # the examples may call the function by another name (set up as an alias of it)
        aliases = {entry} | {s.split("=")[0].strip() for s in check.setup if s.endswith(f"= {entry}")}
        node = call_node(check.code, aliases)
        helpers = frozenset(_helpers(task)) - {entry}
        arguments = [*node.args, *(k.value for k in node.keywords)] if node is not None else []
        if node is None or not all(is_safe_literal(a) or argument_ok(a, helpers) for a in arguments):
            continue
        if any(k.arg is None for k in node.keywords):
            continue
        call = render(
            entry, [ast.unparse(a) for a in node.args], [(k.arg or "", ast.unparse(k.value)) for k in node.keywords]
        )
        if call not in calls:
            calls.append(call)
    return calls


def _statements(text: str) -> Iterator[ast.AST]:
    """Top-level statements of each line or fenced block of ``text`` that parses on its own."""
    for line in text.replace("```python", "\n").replace("```", "\n").splitlines():
        line = line.strip().removeprefix(">>>").strip()
        if not line or len(line) > MAX_CALL_CHARS * 2:
            continue
        try:
            tree = ast.parse(line)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        yield from tree.body


def parse_model_calls(
    text: str, entry: str, *, limit: int = 20, helpers: Sequence[str] = ()
) -> tuple[list[str], list[ModelTest]]:
    """Calls of ``entry`` and asserts on it, read from a model's reply without running any of it.

    Reads each line on its own: ``assert entry(args) == expected`` gives a test (and its call),
    a bare ``entry(args)`` or ``print(entry(args))`` gives a call. Arguments and expected values
    must be plain literals (``ast.literal_eval``), or calls of the prompt's own functions
    (``helpers``, e.g. ``decode(encode("abc"))``) on such literals: names, attribute access,
    comprehensions and calls of anything else are dropped, so a hostile reply yields nothing
    runnable, and what is kept runs only in the sandbox.

    Args:
        text: the model's reply.
        entry: the entry point's name.
        limit: most calls (and most tests) returned.
        helpers: other functions the prompt defines, allowed inside arguments.

    Returns:
        ``(calls, tests)``, each deduplicated in the order written.
    """
    calls: list[str] = []
    tests: list[ModelTest] = []
    allowed = frozenset(helpers) - {entry}
    for stmt in _statements(text):
        call, expected = None, None
        if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare):
            test = stmt.test
            if len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq | ast.Is):
                left, right = test.left, test.comparators[0]
                if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == entry):
                    left, right = right, left  # `assert 3 == f(x)`
                if isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == entry:
                    call = plain_call(left, entry, allowed)
                    if call is not None and literal(right)[0]:
                        expected = literal_source(literal(right)[1])
        elif isinstance(stmt, ast.Expr):
            node = stmt.value
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                node = node.args[0] if len(node.args) == 1 else None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry:
                call = plain_call(node, entry, allowed)
        if call is None or len(call) > MAX_CALL_CHARS:
            continue
        if call not in calls and len(calls) < limit:
            calls.append(call)
        if expected is not None and len(tests) < limit and all(t.call != call for t in tests):
            tests.append(ModelTest(call, expected))
    return calls, tests


_ASK = """Here is a Python function to test:

```python
{code}
```

Write {count} different test cases for `{entry}` as Python asserts, one per line, in the form
`assert {entry}(<arguments>) == <expected result>`, using only literal arguments. Cover typical
inputs and edge cases (empty, zero, negative, single element, duplicates, large). Reply with the
asserts only, in one python code block."""


@dataclass
class ModelInputs:
    """Asks a model for test asserts on the entry point: calls for behaviour clustering, and
    expected values for dual agreement (CodeT).

    Failures never raise: a model error, a spent budget or an unreadable reply give an empty
    ``ModelWritten`` whose ``note`` says why.

    Attributes:
        model: writes the asserts (the model that wrote the candidates is fine).
        count: how many asserts to ask for.
        max_tokens: cap on the reply.
        temperature: sampling temperature (0: the most likely asserts).
    """

    model: Model
    count: int = 10
    max_tokens: int = 400
    temperature: float = 0.0

    def prompt(self, task: Task) -> list[dict[str, str]]:
        """The request: the function's signature and docstring, and what to write."""
        entry = entry_point(task) or "f"
        return [
            {"role": "system", "content": "You write precise unit tests for Python functions."},
            {"role": "user", "content": _ASK.format(code=code_prompt(task).strip(), count=self.count, entry=entry)},
        ]

    async def write(self, task: Task, *, max_tokens: int | None = None) -> ModelWritten:
        """Ask once; parse the reply with ``parse_model_calls``.

        Args:
            task: the coding task (needs ``metadata["entry_point"]``).
            max_tokens: a tighter cap for this call (e.g. what a token budget leaves).

        Returns:
            The calls and tests read, and the usage.
        """
        entry = entry_point(task)
        if not entry:
            return ModelWritten(note="the task names no entry point")
        try:
            completion = await self.model.generate(
                self.prompt(task),
                temperature=self.temperature,
                max_tokens=min(self.max_tokens, max_tokens or self.max_tokens),
                seed=0,
            )
        except (ModelError, BudgetExhausted) as exc:
            return ModelWritten(note=f"the model failed ({type(exc).__name__}: {exc})")
        calls, tests = parse_model_calls(completion.text, entry, limit=2 * self.count, helpers=_helpers(task))
        note = "" if calls else "the reply holds no readable call"
        return ModelWritten(calls=calls, tests=tests, usage=completion.usage, note=note, text=completion.text)


def _helpers(task: Task) -> list[str]:
    """The names of the functions the task's prompt defines (its helpers, e.g. an encoder)."""
    try:
        tree = ast.parse(code_prompt(task))
    except (SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def generate_inputs(
    task: Task,
    *,
    limit: int = 24,
    seed: int = 0,
    written: ModelWritten | None = None,
) -> list[GeneratedInput]:
    """The docstring's example calls, the model's calls, then mutations, up to ``limit`` in all.

    Args:
        task: the coding task (``metadata["entry_point"]``; the code prompt holds the docstring).
        limit: most inputs returned (the examples count towards it).
        seed: for the mutations.
        written: calls the model wrote (``ModelInputs.write``), if any.

    Returns:
        Deduplicated inputs; empty when the task names no entry point or the docstring shows no
        call with literal arguments and the model wrote none.
    """
    entry = entry_point(task)
    if not entry:
        return []
    examples = example_calls(task)
    model_calls = list(written.calls) if written is not None else []
    # no example at all: mutate calls the model wrote, or ones built from the signature
    typed = [] if examples or model_calls else typed_calls(task, entry)
    seeds = examples or model_calls[:3] or typed
    out: list[GeneratedInput] = []
    seen: set[str] = set()
    firsts = (
        [(c, "example") for c in examples] + [(c, "model") for c in model_calls] + [(c, "signature") for c in typed]
    )
    for call, origin in firsts:
        if call not in seen and len(out) < limit:
            seen.add(call)
            out.append(GeneratedInput(call, origin))
    for call in mutate_calls(seeds, entry, limit=max(0, limit - len(out)) + len(seen), seed=seed):
        if call not in seen and len(out) < limit:
            seen.add(call)
            out.append(GeneratedInput(call, "mutation"))
    return out
