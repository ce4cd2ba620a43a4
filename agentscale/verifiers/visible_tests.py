"""Verify a program against the task's visible tests, run in a sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from agentscale.types import Rollout, Task, Verdict
from agentscale.verifiers._program import entry_point, program_for
from agentscale.verifiers._report import no_checks_verdict
from agentscale.verifiers._sandboxed import SandboxedChecks

__all__ = ["VisibleTestsVerifier"]


@dataclass
class VisibleTestsVerifier(SandboxedChecks):
    """Runs ``task.tests`` against the candidate's program.

    Each entry of ``task.tests`` is one of: assert-style test code (bare ``assert``s, or
    HumanEval's ``def check(candidate): ...`` with ``candidate`` bound to
    ``task.metadata["entry_point"]``), plain ``def test_x():`` functions, a pytest file using
    fixtures/parametrize/classes (run with pytest, which must be installed in the sandbox), or a
    shell command (``$ pytest -q``; passes on exit code 0). Asserts and test functions run one
    at a time, isolated, each with its own time limit.

    Verdict: ``score`` = fraction of checks passed, ``passed`` = all passed; a task without tests
    gives a "no checks" verdict (``passed=False``, ``evidence["no_checks"]``).

    Attributes:
        sandboxes: where to run the code.
        python: the interpreter inside the sandbox.
        per_check_timeout: seconds one assert or test function may take.
        load_timeout: seconds loading the program may take.
        max_seconds: deadline for one candidate (and for a whole pytest or command run).
        max_failures: how many failures the feedback spells out.
        name: recorded as ``Verdict.verifier``.
    """

    max_seconds: float = 120.0
    name: str = "visible_tests"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout; never raises for the candidate's faults."""
        if not task.tests:
            return no_checks_verdict(rollout.id, verifier=self.name, why="the task has no visible tests")
        program, why = program_for(task, rollout)
        if program is None:
            return self._failed(rollout.id, why)
        return await self._run_tests(rollout.id, program, task.tests, entry_point(task))
