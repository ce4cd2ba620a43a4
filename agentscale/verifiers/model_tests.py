"""Verify a program against tests the model wrote itself, run in a sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from agentscale.code import code_blocks, defines
from agentscale.types import Rollout, Task, Verdict
from agentscale.verifiers._program import entry_point, program_and_self_tests
from agentscale.verifiers._report import no_checks_verdict
from agentscale.verifiers._sandboxed import SandboxedChecks

__all__ = ["ModelTestsVerifier", "model_written_tests"]


def model_written_tests(task: Task, rollout: Rollout) -> list[str]:
    """The tests a rollout wrote: ``rollout.metadata["tests"]`` (str or list), else test code in its output.

    From the output: asserts appended to the solution, and fenced blocks that do not define the
    entry point but contain ``assert`` or ``def test_``.

    Args:
        task: the coding task (for its entry point).
        rollout: the candidate.

    Returns:
        Test sources, possibly none.
    """
    given = rollout.metadata.get("tests")
    if isinstance(given, str) and given.strip():
        return [given]
    if isinstance(given, list) and given:
        return [str(t) for t in given if str(t).strip()]
    _, self_tests, _ = program_and_self_tests(task, rollout)
    sources = [self_tests] if self_tests.strip() else []
    ep = entry_point(task)
    for block in code_blocks(rollout.output):
        if ep and defines(block, ep):
            continue
        if "assert" in block or "def test_" in block:
            sources.append(block)
    return sources


@dataclass
class ModelTestsVerifier(SandboxedChecks):
    """Runs the tests the model wrote (see ``model_written_tests``) against its own program.

    Model-written tests may themselves be wrong: use this as one signal among several (e.g. in a
    ``WeightedSum``), or to check candidates against each other's tests. A rollout with no tests
    gives a "no checks" verdict (``passed=False``, ``evidence["no_checks"]``).

    Attributes:
        sandboxes: where to run the code.
        python: the interpreter inside the sandbox.
        per_check_timeout: seconds one assert or test function may take.
        load_timeout: seconds loading the program may take.
        max_seconds: deadline for one candidate.
        max_failures: how many failures the feedback spells out.
        name: recorded as ``Verdict.verifier``.
    """

    name: str = "model_tests"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout; never raises for the candidate's faults."""
        program, _, why = program_and_self_tests(task, rollout)
        if program is None:
            return self._failed(rollout.id, why)
        tests = model_written_tests(task, rollout)
        if not tests:
            return no_checks_verdict(rollout.id, verifier=self.name, why="the rollout wrote no tests")
        return await self._run_tests(rollout.id, program, tests, entry_point(task))
