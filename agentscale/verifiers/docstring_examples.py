"""Verify a program against the examples written in its task's docstring, run in a sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from agentscale.types import Rollout, Task, Verdict
from agentscale.verifiers._examples import extract_examples
from agentscale.verifiers._program import code_prompt, entry_point, program_for
from agentscale.verifiers._report import no_checks_verdict, verdict_from_report
from agentscale.verifiers._run import run_checks
from agentscale.verifiers._sandboxed import SandboxedChecks

__all__ = ["DocstringExamplesVerifier"]


@dataclass
class DocstringExamplesVerifier(SandboxedChecks):
    """Runs the examples in the docstring of ``task.metadata["entry_point"]`` against the candidate.

    Examples are read by ``extract_examples`` (doctests, ``f(x) == y``/``=>``/``->``/``➞``, "should
    return", "For x = ... the output should be ...", "Input: ... Output: ..."). Each runs isolated
    in one sandbox lease (own namespace, own time limit; a crash or hang costs only that example).

    Verdict: ``score`` = fraction of examples passed, ``passed`` = all passed. A docstring with no
    readable example gives ``passed=False, score=0`` and ``evidence["no_checks"] = True``: nothing
    was verified, so it is not a pass. A failed rollout, an output with no code, a program that
    does not load, or a sandbox failure also give ``passed=False`` with the reason in ``feedback``.

    Attributes:
        sandboxes: where to run the code.
        python: the interpreter inside the sandbox.
        per_check_timeout: seconds one example may take.
        load_timeout: seconds loading the program may take.
        max_seconds: deadline for one candidate, restarts after crashes included.
        max_failures: how many failures the feedback spells out.
        name: recorded as ``Verdict.verifier``.
    """

    name: str = "docstring_examples"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout; never raises for the candidate's faults (see the class docstring)."""
        examples = extract_examples(code_prompt(task), entry_point(task))
        if not examples.checks:
            return no_checks_verdict(
                rollout.id,
                verifier=self.name,
                why="no examples could be extracted from the docstring",
                skipped=examples.skipped,
            )
        program, why = program_for(task, rollout)
        if program is None:
            return self._failed(rollout.id, why)
        report = await run_checks(
            self.sandboxes,
            program,
            examples.checks,
            python=self.python,
            per_check_timeout=self.per_check_timeout,
            load_timeout=self.load_timeout,
            max_seconds=self.max_seconds,
        )
        return verdict_from_report(
            rollout.id, report, verifier=self.name, skipped=examples.skipped, max_failures=self.max_failures
        )
