"""Running a checkout's tests in its sandbox and reading back one outcome per test id.

Test ids are pytest node ids (``path/to/test_x.py::TestCase::test_y[param]``), the form
SWE-bench's ``FAIL_TO_PASS`` / ``PASS_TO_PASS`` use for pytest projects. The test files named by
the ids run in one pytest call; a small plugin of ours (``_sandbox_plugin.py``) writes each test's
outcome, and for failures the exception and the test's source, to a file the host reads back.
Outcomes are parsed from that file, never from pytest's console output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentscale.graphs.swe.workspace import SWE_DIR, PreparedRepo, RepoSandbox

__all__ = ["PASSING", "TestResult", "TestRun", "files_of_tests", "run_tests"]

PASSING = frozenset({"passed", "xfailed"})
"""Outcomes that count as a pass (as in SWE-bench's grading: PASSED and XFAIL)."""
_PLUGIN = "agentscale_swe_results"
_RESULTS = f"{SWE_DIR}/results.jsonl"


@dataclass(frozen=True)
class TestResult:
    """One test's outcome.

    Attributes:
        nodeid: the pytest node id.
        outcome: ``passed``, ``failed``, ``error`` (setup or teardown failed), ``skipped``,
            ``xfailed``, ``xpassed``, or ``collect_error`` (its file could not be collected).
        message: for a failure, the exception with pytest's explanation.
        source: for a failure, the test's source up to the failing statement.
    """

    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    outcome: str
    message: str = ""
    source: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING


@dataclass
class TestRun:
    """Every outcome of one pytest call, and how the call itself ended.

    Attributes:
        results: node id -> outcome, for the tests that ran.
        collect_errors: files or modules pytest could not collect.
        exit_code: pytest's exit status (-1 when it did not run).
        timed_out: the run hit its time limit (outcomes up to then are kept).
        duration: wall seconds.
        output: the tail of pytest's console output, for a person reading a report.
    """

    __test__ = False

    results: dict[str, TestResult] = field(default_factory=dict)
    collect_errors: list[TestResult] = field(default_factory=list)
    exit_code: int = -1
    timed_out: bool = False
    duration: float = 0.0
    output: str = ""

    def passed(self, nodeid: str) -> bool:
        """Whether ``nodeid`` ran and passed (a test that did not run has not passed)."""
        result = self.results.get(nodeid)
        return result is not None and result.passed

    def split(self, nodeids: Iterable[str]) -> tuple[list[str], list[str]]:
        """``(passed, not passed)`` among ``nodeids``, each in the given order."""
        ok, bad = [], []
        for n in nodeids:
            (ok if self.passed(n) else bad).append(n)
        return ok, bad


def files_of_tests(nodeids: Iterable[str]) -> list[str]:
    """The distinct files the node ids live in, sorted (``a/t.py::T::x`` -> ``a/t.py``)."""
    return sorted({n.split("::", 1)[0] for n in nodeids if n.split("::", 1)[0]})


def _plugin_source() -> str:
    return Path(__file__).with_name("_sandbox_plugin.py").read_text(encoding="utf-8")


async def run_tests(
    sandbox: RepoSandbox,
    prepared: PreparedRepo,
    paths: Sequence[str] = (),
    *,
    timeout: float = 600,
) -> TestRun:
    """Run pytest on ``paths`` (files or folders; empty: pytest's own discovery) in a prepared sandbox.

    Args:
        sandbox: a sandbox made ready by ``prepare_repo``.
        prepared: what ``prepare_repo`` returned.
        paths: what to collect, relative to the repository root.
        timeout: wall seconds for the whole run.

    Returns:
        The outcomes. A failing, crashing or timed-out run is a result, not an exception.

    Raises:
        ConfigError: a path is absolute or starts with ``-``.
        SandboxError: the sandbox itself failed.
    """
    from agentscale.errors import ConfigError

    for p in paths:
        if p.startswith(("/", "-")):
            raise ConfigError(f"test path {p!r} must be relative to the repository and not start with '-'")
    workdir = prepared.workdir
    env = dict(prepared.env)
    env["PYTHONPATH"] = ":".join(x for x in (f"{workdir}/{SWE_DIR}", env.get("PYTHONPATH", "")) if x)
    env["AGENTSCALE_SWE_RESULTS"] = f"{workdir}/{_RESULTS}"
    argv = ["python3", "-m", "pytest", "-p", "no:cacheprovider", "-p", _PLUGIN,
            "-q", "--tb=no", "-rN", "--color=no", *paths]  # fmt: skip
    # The results file is removed first: outcomes of an earlier run must never be read as this one's.
    await sandbox.run(["rm", "-f", _RESULTS], timeout=30)
    result = await sandbox.run(argv, files={f"{SWE_DIR}/{_PLUGIN}.py": _plugin_source()}, timeout=timeout, env=env)
    found = await sandbox.read_files([_RESULTS])
    run = TestRun(
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        duration=result.duration,
        output=(result.stdout + result.stderr)[-4000:],
    )
    for line in found.get(_RESULTS, b"").decode("utf-8", "replace").splitlines():
        try:
            raw = json.loads(line)
            item = TestResult(raw["nodeid"], raw["outcome"], raw.get("message", ""), raw.get("source", ""))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a timeout
        if item.outcome == "collect_error":
            run.collect_errors.append(item)
        else:
            run.results[item.nodeid] = item
    return run
