"""Control flow of the sandboxed verifiers with a FakeSandbox: what reaches the verdict when the
sandbox or the rollout misbehaves (the harness itself is tested with real processes elsewhere)."""

from __future__ import annotations

import json

import pytest

from agentscale.errors import SandboxError, SandboxUnavailable
from agentscale.testing import FakeSandboxProvider
from agentscale.types import ExecResult, Rollout, Task
from agentscale.verifiers import DocstringExamplesVerifier, VisibleTestsVerifier

TASK = Task(
    id="t",
    prompt='def f(x):\n    """Double.\n    >>> f(1)\n    2\n    >>> f(2)\n    4\n    """\n',
    metadata={"entry_point": "f"},
)
GOOD = Rollout(task_id="t", output="    return 2 * x\n")


class Raising:
    def __init__(self, exc):
        self.exc = exc

    def lease(self):
        raise self.exc


async def test_sandbox_error_becomes_a_failed_verdict():
    verdict = await DocstringExamplesVerifier(Raising(SandboxError("container died"))).verify(TASK, GOOD)
    assert not verdict.passed and verdict.score == 0.0
    assert "container died" in verdict.feedback
    assert verdict.evidence["sandbox_error"] == "SandboxError: container died"


async def test_unavailable_sandbox_is_a_setup_error_and_raises():
    with pytest.raises(SandboxUnavailable):
        await DocstringExamplesVerifier(Raising(SandboxUnavailable("no docker"))).verify(TASK, GOOD)


async def test_sandbox_timeout_with_no_output_is_bisected_one_check_at_a_time():
    provider = FakeSandboxProvider(handler=lambda argv, files: ExecResult(exit_code=-9, timed_out=True))
    verdict = await DocstringExamplesVerifier(provider, max_seconds=30).verify(TASK, GOOD)
    assert not verdict.passed
    assert [c["status"] for c in verdict.evidence["checks"]] == ["timeout", "timeout"]
    assert len(provider.leased[0].commands) == 3  # the whole batch, then each check alone


async def test_oom_kill_is_reported():
    def handler(argv, files):
        marker = json.loads(files["_as_checks.json"])["marker"]
        out = f'{marker} {{"event": "load", "ok": true}}\n{marker} {{"event": "start", "i": 0}}\n'
        return ExecResult(exit_code=137, stdout=out, oom_killed=True)

    verdict = await DocstringExamplesVerifier(FakeSandboxProvider(handler=handler)).verify(TASK, GOOD)
    assert [c["status"] for c in verdict.evidence["checks"]] == ["crash", "crash"]
    assert "memory limit" in verdict.feedback


async def test_failed_rollout_and_missing_code_are_not_run():
    provider = FakeSandboxProvider()
    verifier = DocstringExamplesVerifier(provider)
    failed = Rollout(task_id="t", status="error", error="model timed out")
    verdict = await verifier.verify(TASK, failed)
    assert not verdict.passed and "model timed out" in verdict.feedback
    verdict = await verifier.verify(TASK, Rollout(task_id="t", output=""))
    assert not verdict.passed and "no code" in verdict.feedback
    assert provider.leased == []


async def test_visible_tests_without_tests_is_no_checks():
    verdict = await VisibleTestsVerifier(FakeSandboxProvider()).verify(TASK, GOOD)
    assert not verdict.passed and verdict.evidence["no_checks"]
