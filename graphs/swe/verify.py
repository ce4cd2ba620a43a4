"""Checks of a candidate patch: what selection may use (``VisibleTests``) and what scores (``HiddenTests``).

``VisibleTests`` (test-based selection) sees only what the agent could know. In a fresh sandbox
from its pool it checks out the base commit, applies the patch with ``git apply`` and runs, in
one pytest call:

- the instance's ``PASS_TO_PASS`` tests: tests that exist in the repository and pass at the base
  commit (the agent could run them too); a patch must not break them;
- the tests the problem statement names (``named_tests``): every collected test whose id, its
  ``Class::test`` tail, or (for a name starting ``test``) its function name appears as a word in
  the statement. A user who reports "the project's own test ``test_x`` fails" has told the agent.

It never runs ``FAIL_TO_PASS`` by that list (those are the hidden tests). A test the statement
names may be one of them: then the reporter named it, and the agent saw the name. On tasks
whose statements name their failing tests (the generated ones do), this selection is close to
the oracle; on SWE-bench's own issues it mostly has ``PASS_TO_PASS``.

Verdict: an empty patch or one that does not apply scores 0 (not passed); else the score is
``0.2 + 0.8 * passed/run`` over the visible tests and it passes when all of them pass. The
feedback names the failing tests with their errors (what evolution's next generation reads).

``HiddenTests`` is the scorer: ``evaluate_patch`` (``FAIL_TO_PASS`` and ``PASS_TO_PASS``, as the
SWE-bench harness does) in a fresh sandbox; passed iff resolved. It is never used to select.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentscale.graphs.swe.agent import instance_of
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.evaluate import _apply, evaluate_patch
from agentscale.graphs.swe.instances import SWEInstance
from agentscale.graphs.swe.repos import RepoSource
from agentscale.graphs.swe.testrun import TestRun, files_of_tests, run_tests
from agentscale.graphs.swe.workspace import PreparedRepo, RepoSandbox, prepare_repo
from agentscale.protocols import SandboxProvider
from agentscale.types import Rollout, Task, Verdict

__all__ = ["HiddenTests", "VisibleTests", "named_tests"]

_FAILURES_SHOWN = 5


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.:/-]){re.escape(name)}(?![\w])")


def named_tests(statement: str, collected: Sequence[str]) -> list[str]:
    """The collected test ids the statement names (see the module docs), in collected order.

    Example:
        >>> named_tests("`TestDict::test_get` fails", ["t.py::TestDict::test_get", "t.py::TestDict::test_set"])
        ['t.py::TestDict::test_get']
    """
    found = []
    for nodeid in collected:
        base = nodeid.split("[", 1)[0]
        parts = base.split("::")
        names = {nodeid, base}
        if len(parts) >= 3:
            names.add("::".join(parts[-2:]))
        if parts[-1].startswith("test") and len(parts[-1]) > 5:
            names.add(parts[-1])
        if any(_word(n).search(statement) for n in names):
            found.append(nodeid)
    return found


async def _collect(sandbox: RepoSandbox, prepared: PreparedRepo, timeout: float) -> list[str]:
    result = await sandbox.run(
        ["python3", "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--color=no"],
        timeout=timeout,
        env=prepared.env,
    )
    return [line.strip() for line in result.stdout.splitlines() if "::" in line and " " not in line.strip()]


def _failure_lines(run: TestRun, tests: Sequence[str]) -> list[str]:
    lines = []
    for nodeid in tests:
        if run.passed(nodeid):
            continue
        result = run.results.get(nodeid)
        why = (result.message.strip().splitlines() or ["failed"])[-1][:300] if result else "did not run"
        lines.append(f"- {nodeid}: {why}")
    return lines


@dataclass
class VisibleTests:
    """Test-based selection for SWE patches (see the module docs for exactly what it runs).

    Attributes:
        sandboxes: where fresh sandboxes come from (the pool the agents use is fine).
        repos: where repositories come from.
        deps: where ``python_deps`` come from.
        timeout: wall seconds for one test run.
        named: also run the tests the problem statement names.
        name: recorded as ``Verdict.verifier``.
    """

    sandboxes: SandboxProvider
    repos: RepoSource
    deps: PythonDeps | None = None
    timeout: float = 300.0
    named: bool = True
    name: str = "swe_visible_tests"
    _named_cache: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def _verdict(self, rollout: Rollout, score: float, passed: bool, feedback: str, **evidence: Any) -> Verdict:
        return Verdict(rollout_id=rollout.id, score=score, passed=passed, feedback=feedback,
                       evidence=evidence, verifier=self.name)  # fmt: skip

    async def _tests(self, sandbox: RepoSandbox, prepared: PreparedRepo, instance: SWEInstance) -> list[str]:
        tests = list(instance.PASS_TO_PASS)
        if self.named:
            if instance.instance_id not in self._named_cache:
                collected = await _collect(sandbox, prepared, self.timeout)
                self._named_cache[instance.instance_id] = named_tests(instance.problem_statement, collected)
            tests += [t for t in self._named_cache[instance.instance_id] if t not in tests]
        return tests

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Apply the patch in a fresh sandbox and run the visible tests."""
        instance = instance_of(task)
        patch = rollout.output
        if not patch.strip():
            return self._verdict(rollout, 0.0, False, "The patch is empty: no file was changed. Edit the code.",
                                 applied=False)  # fmt: skip
        async with self.sandboxes.lease() as sandbox:
            prepared = await prepare_repo(sandbox, instance, self.repos, self.deps)
            # collect at the base commit, before the patch: what the statement names, not what a patch adds
            tests = await self._tests(sandbox, prepared, instance)
            applied, why = await _apply(sandbox, patch, "candidate.patch")
            if not applied:
                return self._verdict(rollout, 0.0, False, f"The patch does not apply: {why[:500]}", applied=False)
            if not tests:
                return self._verdict(rollout, 0.2, True, "The patch applies; no visible tests to run.",
                                     applied=True, tests=0)  # fmt: skip
            run = await run_tests(sandbox, prepared, files_of_tests(tests), timeout=self.timeout)
        ok = [t for t in tests if run.passed(t)]
        failing = _failure_lines(run, tests)
        score = 0.2 + 0.8 * len(ok) / len(tests)
        if run.timed_out:
            failing.insert(0, f"- the tests timed out after {self.timeout:g} s")
        passed = not failing
        feedback = (
            f"The patch applies and all {len(tests)} visible tests pass."
            if passed
            else f"{len(tests) - len(ok)} of {len(tests)} visible tests fail:\n" + "\n".join(failing[:_FAILURES_SHOWN])
        )
        return self._verdict(rollout, round(score, 4), passed, feedback, applied=True, tests=len(tests),
                             passed_tests=len(ok), failing=[x[2:].split(": ", 1)[0] for x in failing][:20])  # fmt: skip


@dataclass
class HiddenTests:
    """The scorer: is the patch a fix by the hidden tests (``FAIL_TO_PASS`` and ``PASS_TO_PASS``)?

    Attributes:
        sandboxes: where fresh sandboxes come from.
        repos: where repositories come from.
        deps: where ``python_deps`` come from.
        timeout: wall seconds for one test run.
        name: recorded as ``Verdict.verifier``.
    """

    sandboxes: SandboxProvider
    repos: RepoSource
    deps: PythonDeps | None = None
    timeout: float = 300.0
    name: str = "swe_resolved"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Score the rollout's patch like the SWE-bench harness; ``passed`` iff resolved."""
        instance = instance_of(task)
        async with self.sandboxes.lease() as sandbox:
            result = await evaluate_patch(sandbox, instance, rollout.output, self.repos, deps=self.deps,
                                          timeout=self.timeout)  # fmt: skip
        return Verdict(
            rollout_id=rollout.id,
            score=1.0 if result.resolved else 0.0,
            passed=result.resolved,
            feedback=result.status + (f": {result.error}" if result.error else ""),
            evidence={"status": result.status, "tests_status": result.tests_status},
            verifier=self.name,
        )
