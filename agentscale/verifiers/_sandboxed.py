"""What the sandboxed verifiers share: their settings and the tail that turns a run into a verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentscale.protocols import SandboxProvider
from agentscale.types import Verdict
from agentscale.verifiers._report import no_checks_verdict, verdict_from_report
from agentscale.verifiers._test_sources import TestLimits, run_test_sources

__all__ = ["SandboxedChecks"]


@dataclass
class SandboxedChecks:
    """Settings of a verifier that runs checks in a sandbox (see each subclass for the meaning)."""

    sandboxes: SandboxProvider
    python: str = "python3"
    per_check_timeout: float = 5.0
    load_timeout: float = 10.0
    max_seconds: float = 60.0
    max_failures: int = 3
    name: str = "sandboxed_checks"

    def _failed(self, rollout_id: str, why: str) -> Verdict:
        return Verdict(rollout_id=rollout_id, score=0.0, passed=False, feedback=why, verifier=self.name)

    async def _run_tests(self, rollout_id: str, program: str, tests: Sequence[str], entry: str | None) -> Verdict:
        """Run test sources (asserts, ``check(candidate)``, test functions, pytest files, commands)."""
        limits = TestLimits(self.python, self.per_check_timeout, self.load_timeout, self.max_seconds)
        report, notes = await run_test_sources(self.sandboxes, program, tests, entry, limits)
        if not report.results and not report.load_error and not report.sandbox_error:
            return no_checks_verdict(rollout_id, verifier=self.name, why="the tests contain no checks", skipped=notes)
        return verdict_from_report(
            rollout_id, report, verifier=self.name, skipped=notes, max_failures=self.max_failures
        )
