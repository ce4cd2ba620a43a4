"""Reproduction tests for SWE selection, CodeMonkeys-style: the model writes tests from the issue,
every candidate patch runs them in a fresh sandbox, and the tests vote.

Three steps, each usable alone:

- ``ReproWriter.write``: ``count`` model calls (seeds ``seed``, ``seed + 1``, ...), each shown the
  repository's name and the problem statement only, never the code, the hidden tests or a
  candidate; each reply's Python block is one ``ReproTest`` (a pytest file when it defines a
  ``test_`` function, else a script). Replies without code that parses, or whose code checks
  nothing (no ``assert``, test function, ``raise`` or ``exit(``), are dropped, as are repeats.
  Every call is counted in ``WrittenTests.usage`` (and charged to the run's budget inside a
  scaled run: the ``select`` node settles a selector's calls).
- ``run_repro_tests``: in one FRESH sandbox leased for one patch, the checkout at the base commit
  (``prepare_repo``), the patch applied (``None``: the base commit itself), then each test in its
  own process with its own time limit. A test passes when it exits 0 in time. The checkout is
  restored (``git reset --hard``, ``git clean``) after each test, so a test that writes files or
  deletes code spoils only itself; one that crashes or hangs fails for that patch only; one
  whose sandbox call failed is unknown (``None``). Tests never run on the host.
- ``repro_vote``: the arithmetic. A test's weight is 1 when the candidates disagree on it (some
  pass and some fail), as CodeT's dual agreement has it; a test every candidate passes or every
  candidate fails says nothing about which is right (weight 0), nor does one that passes at the
  base commit (it does not reproduce the issue). A candidate's score is the summed weight of the
  tests it passes.

Example:
    ```python
    written = await ReproWriter(llm, count=3).write(task)
    async with pool.lease() as sandbox:
        run = await run_repro_tests(sandbox, instance, patch, written.tests, repos)
    vote = repro_vote({"a": run.passed, "b": other.passed}, base=base_run.passed)
    vote.scores   # {"a": 2, "b": 0}
    ```
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from agentscale.code import extract_code, parses
from agentscale.errors import BudgetExhausted, ModelError, SandboxError
from agentscale.graphs.swe.agent import instance_of
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.evaluate import _apply
from agentscale.graphs.swe.instances import SWEInstance
from agentscale.graphs.swe.repos import RepoSource
from agentscale.graphs.swe.workspace import SWE_DIR, RepoSandbox, prepare_repo
from agentscale.protocols import Model
from agentscale.types import Message, Task, Usage

__all__ = ["REPRO_DIR", "ReproRun", "ReproTest", "ReproVote", "ReproWriter", "WrittenTests", "repro_vote",
           "run_repro_tests"]  # fmt: skip

REPRO_DIR = f"{SWE_DIR}/repro"
"""Where the tests are written inside the checkout (git ignores ``.swe/``: they never enter a diff)."""

_SYSTEM = "You write reproduction tests for bug reports in Python projects. You reply with one Python code block."
_ASK = """Repository: {repo}

Issue:
{statement}

Write a small pytest test file that reproduces this issue: it must FAIL while the issue is present
and PASS once the issue is fixed. Import the project's code as its users do (the repository root is
on the import path) and check the behaviour the issue expects with plain asserts. Do not fix the
code and do not copy it; write only the test.
Reply with one ```python block."""
_STATEMENT_CHARS = 6000
_TEST_FN = re.compile(r"^(?:async\s+)?def\s+test", re.MULTILINE)
_CHECKS = re.compile(r"\bassert\b|\bdef\s+test|\braise\b|\bexit\(")


@dataclass(frozen=True)
class ReproTest:
    """One model-written reproduction test.

    Attributes:
        index: its place among the task's tests (names its file).
        source: the Python source.
        kind: ``"pytest"`` (defines ``test_`` functions: passes when pytest exits 0) or ``"script"``
            (passes when ``python3 FILE`` exits 0).
    """

    __test__ = False  # not a pytest class, whatever its name

    index: int
    source: str
    kind: Literal["pytest", "script"] = "pytest"

    @property
    def path(self) -> str:
        """Its file, relative to the checkout."""
        return f"{REPRO_DIR}/test_repro_{self.index}.py"

    def argv(self) -> list[str]:
        """The command that runs it in the checkout."""
        if self.kind == "script":
            return ["python3", self.path]
        return ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no", "--tb=line", self.path]

    @classmethod
    def of(cls, index: int, source: str) -> ReproTest:
        """A test from its source; the kind is read off it."""
        return cls(index, source, "pytest" if _TEST_FN.search(source) else "script")


@dataclass
class WrittenTests:
    """What the writer produced for one task.

    Attributes:
        tests: the readable, distinct tests.
        asked: model calls made.
        dropped: why each unusable reply was dropped.
        usage: the calls' tokens.
    """

    tests: list[ReproTest] = field(default_factory=list)
    asked: int = 0
    dropped: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


@dataclass
class ReproWriter:
    """Asks the model for reproduction tests from the issue text (see the module docs).

    Attributes:
        model: the model (the agent's own is fine).
        count: test-writing calls per task (K).
        temperature: sampling temperature (above 0, or the K tests come out alike).
        max_tokens: reply length cap per call.
        seed: the first call's seed; call ``k`` uses ``seed + k``.
    """

    model: Model
    count: int = 3
    temperature: float = 0.8
    max_tokens: int = 600
    seed: int = 0

    def messages(self, instance: SWEInstance) -> list[Message]:
        """The prompt: the repository's name and the problem statement, nothing else."""
        statement = instance.problem_statement.strip()
        if len(statement) > _STATEMENT_CHARS:
            half = _STATEMENT_CHARS // 2
            statement = statement[:half] + "\n[... cut ...]\n" + statement[-half:]
        ask = _ASK.format(repo=instance.repo, statement=statement)
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]

    async def write(self, task: Task) -> WrittenTests:
        """``count`` tests for the task's issue; a failed or unreadable call loses only its own test.

        Raises:
            ConfigError: the task carries no SWE instance.
            asyncio.CancelledError: the caller cancelled it.
        """
        prompt = self.messages(instance_of(task))

        async def ask(k: int):
            return await self.model.generate(prompt, temperature=self.temperature, max_tokens=self.max_tokens,
                                             seed=self.seed + k)  # fmt: skip

        written = WrittenTests(asked=self.count)
        replies = await asyncio.gather(*(ask(k) for k in range(self.count)), return_exceptions=True)
        for k, reply in enumerate(replies):
            if isinstance(reply, ModelError | BudgetExhausted):
                written.dropped.append(f"call {k + 1}: {type(reply).__name__}: {str(reply)[:200]}")
                continue
            if isinstance(reply, BaseException):
                raise reply
            written.usage = written.usage + reply.usage
            code = extract_code(reply.text, pick="longest").strip()
            if not code or not parses(code):
                written.dropped.append(f"call {k + 1}: no Python code that parses")
            elif not _CHECKS.search(code):  # prose such as "Sure" parses too; a test must be able to fail
                written.dropped.append(f"call {k + 1}: the code checks nothing (no assert, test, raise or exit)")
            elif any(t.source == code for t in written.tests):
                written.dropped.append(f"call {k + 1}: the same test as an earlier call")
            else:
                written.tests.append(ReproTest.of(len(written.tests), code))
        return written


@dataclass
class ReproRun:
    """One patch's run of the tests.

    Attributes:
        applied: the patch applied (always ``True`` for the base commit).
        passed: per test, in order: passed, failed (a failure, crash or timeout), or ``None``
            (unknown: the sandbox call itself failed).
        notes: per test, a few words on what happened (exit code, timeout, the last output line).
        error: why some or all tests did not run (the patch does not apply, the checkout could
            not be reset, the sandbox or the repository failed), else ``""``.
    """

    applied: bool = True
    passed: list[bool | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:160] if lines else ""


async def run_repro_tests(
    sandbox: RepoSandbox,
    instance: SWEInstance,
    patch: str | None,
    tests: Sequence[ReproTest],
    repos: RepoSource,
    *,
    deps: PythonDeps | None = None,
    timeout: float = 60.0,
) -> ReproRun:
    """Run ``tests`` on ``patch`` in ``sandbox``, which must be fresh (an empty work dir).

    Args:
        sandbox: a fresh sandbox, leased for this patch alone.
        instance: the task.
        patch: the candidate's ``git diff``; ``None`` or blank: the base commit as it is.
        tests: the reproduction tests.
        repos: where the repository comes from.
        deps: where ``python_deps`` come from.
        timeout: wall seconds per test (its whole process tree is killed after).

    Returns:
        The outcomes (see ``ReproRun``). A patch that does not apply is ``applied=False`` with every
        test failed.

    Raises:
        AgentScaleError: the repository, a dependency or the sandbox failed before any test ran
            (callers turn it into data).
    """
    prepared = await prepare_repo(sandbox, instance, repos, deps)
    run = ReproRun()
    if patch and patch.strip():
        applied, why = await _apply(sandbox, patch, "candidate.patch")
        if not applied:
            return ReproRun(applied=False, passed=[False] * len(tests), notes=["patch does not apply"] * len(tests),
                            error=f"the patch does not apply: {why[:300]}")  # fmt: skip
        # the patched tree becomes the commit each test's leftovers are reset to
        await sandbox.commit_baseline("candidate")
    env = dict(prepared.env)
    # scripts get the checkout on the path too (python3 -m pytest adds the cwd; python3 FILE does not)
    env["PYTHONPATH"] = ":".join(x for x in (prepared.workdir, env.get("PYTHONPATH", "")) if x)
    for test in tests:
        try:
            result = await sandbox.run(test.argv(), files={test.path: test.source}, timeout=timeout, env=env)
        except SandboxError as exc:
            run.passed.append(None)
            run.notes.append(f"sandbox failed: {str(exc)[:160]}")
            continue
        ok = result.exit_code == 0 and not result.timed_out
        run.passed.append(ok)
        if result.timed_out:
            run.notes.append(f"timed out after {timeout:g} s")
        else:
            run.notes.append(f"exit {result.exit_code}: {_last_line(result.stdout + result.stderr)}")
        # a test that wrote, moved or deleted files must not change what the next one sees
        reset = await sandbox.run("git reset -q --hard && git clean -fdq", timeout=60)
        if not reset.ok:
            left = len(tests) - len(run.passed)
            run.passed += [None] * left
            run.notes += ["not run: the checkout could not be reset"] * left
            run.error = f"git reset failed ({reset.exit_code}): {_last_line(reset.stderr)}"
            break
    return run


@dataclass
class ReproVote:
    """The vote of the reproduction tests.

    Attributes:
        weights: per test, 1 when it tells candidates apart, else 0.
        why: per test of weight 0, the reason.
        scores: candidate key -> summed weight of the tests it passes.
    """

    weights: list[int]
    why: dict[int, str]
    scores: dict[str, int]

    @property
    def informative(self) -> int:
        """How many tests carry weight."""
        return sum(self.weights)


def repro_vote(results: Mapping[str, Sequence[bool | None]], *, base: Sequence[bool | None] | None = None) -> ReproVote:
    """Weigh the tests and score the candidates (see the module docs).

    Args:
        results: candidate key -> per test passed / failed / unknown (``None``), all the same length.
            Leave out candidates whose patch did not apply: they do not decide what a test says.
        base: the same tests at the base commit (no patch); a test that passes there gets weight 0.

    Returns:
        The weights, why a test carries none, and each candidate's score.

    Example:
        >>> v = repro_vote({"a": [True, True, False], "b": [False, True, False]}, base=[False, False, False])
        >>> v.weights, v.scores
        ([1, 0, 0], {'a': 1, 'b': 0})
    """
    count = len(next(iter(results.values()), base or []))
    weights, why = [], {}
    for t in range(count):
        known = {r[t] for r in results.values() if r[t] is not None}
        if base is not None and base[t] is True:
            why[t] = "passes without any patch: does not reproduce the issue"
        elif known == {True, False}:
            weights.append(1)
            continue
        elif known == {True}:
            why[t] = "every candidate passes it"
        elif known == {False}:
            why[t] = "every candidate fails it"
        else:
            why[t] = "no candidate's run of it is known"
        weights.append(0)
    scores = {key: sum(w for w, ok in zip(weights, r, strict=True) if ok is True) for key, r in results.items()}
    return ReproVote(weights, why, scores)
