"""Turn a ``RunReport`` into a ``Verdict`` with compact feedback a model can act on."""

from __future__ import annotations

from collections.abc import Sequence

from agentscale.types import Verdict
from agentscale.verifiers._run import CheckResult, RunReport

__all__ = ["no_checks_verdict", "verdict_from_report"]

_TAIL = 2000


def _line(result: CheckResult) -> str:
    label = {"fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT", "crash": "CRASH", "not_run": "NOT RUN"}
    head = f"{label.get(result.status, result.status.upper())} {result.check.name}"
    if result.expected is not None or result.got is not None:
        text = f"{head}: expected {result.expected}, got {result.got}"
        return text + (f" ({result.error})" if result.error else "")
    return f"{head}: {result.error or 'failed'}"


def verdict_from_report(
    rollout_id: str,
    report: RunReport,
    *,
    verifier: str,
    skipped: Sequence[str] = (),
    max_failures: int = 3,
) -> Verdict:
    """Score = fraction of checks passed; passed = every check passed (and there was at least one).

    Args:
        rollout_id: the rollout judged.
        report: what ``run_checks`` returned.
        verifier: the verifier's name, recorded in the verdict.
        skipped: notes on examples that could not be turned into checks.
        max_failures: how many failures the feedback spells out.

    Returns:
        The verdict; ``feedback`` lists the first failures, ``evidence`` holds every check's result
        and the raw output of the harness.
    """
    total = len(report.results)
    passed = report.passed
    failures = [r for r in report.results if not r.passed]
    lines = [f"{passed} of {total} checks passed."]
    if report.load_error:
        lines = [f"0 of {total} checks ran: the program failed to load: {report.load_error}"]
    else:
        if report.sandbox_error:
            lines.append(f"The sandbox failed: {report.sandbox_error}")
        lines += [_line(r) for r in failures[:max_failures]]
        if len(failures) > max_failures:
            lines.append(f"({len(failures) - max_failures} more failures not shown)")
    if skipped:
        more = f" (and {len(skipped) - 2} more)" if len(skipped) > 2 else ""
        lines.append(f"Skipped: {'; '.join(skipped[:2])}{more}")
    evidence = {
        "passed": passed,
        "total": total,
        "checks": [r.to_json() for r in report.results],
        "load_error": report.load_error,
        "sandbox_error": report.sandbox_error,
        "runs": len(report.execs),
        "exit_codes": [e.exit_code for e in report.execs],
        "stdout": "".join(e.stdout for e in report.execs)[-_TAIL:],
        "stderr": "".join(e.stderr for e in report.execs)[-_TAIL:],
        "skipped": list(skipped),
    }
    return Verdict(
        rollout_id=rollout_id,
        score=passed / total if total else 0.0,
        passed=total > 0 and passed == total,
        feedback="\n".join(lines),
        evidence=evidence,
        verifier=verifier,
    )


def no_checks_verdict(rollout_id: str, *, verifier: str, why: str, skipped: Sequence[str] = ()) -> Verdict:
    """The verdict when there was nothing to check: not a pass, and it says so.

    Args:
        rollout_id: the rollout judged.
        verifier: the verifier's name.
        why: what was missing (e.g. "no examples could be extracted from the docstring").
        skipped: notes on passages that looked like examples but could not be read.

    Returns:
        ``Verdict(score=0, passed=False)`` with ``evidence["no_checks"] = True``.
    """
    feedback = f"No checks: {why}."
    if skipped:
        feedback += f" Skipped: {'; '.join(skipped[:3])}"
    return Verdict(
        rollout_id=rollout_id,
        score=0.0,
        passed=False,
        feedback=feedback,
        evidence={"no_checks": True, "total": 0, "passed": 0, "skipped": list(skipped)},
        verifier=verifier,
    )
