"""A pytest plugin that runs INSIDE the sandbox: one JSON line per test into ``$AGENTSCALE_SWE_RESULTS``.

``testrun.run_tests`` copies this file's source into the sandbox and loads it with ``-p``. It uses
nothing but the standard library and pytest (7.x and 8.x), since the sandbox has only those. For
a failed test it keeps what a user would see: the exception (with pytest's assertion explanation)
and the test's own source up to the failing line; never frames of the code under test.
"""

import json
import os

import pytest

_MAX_MESSAGE = 4000
_MAX_SOURCE_LINES = 25
_state = {"file": None, "tests": {}}


def pytest_configure(config):
    path = os.environ.get("AGENTSCALE_SWE_RESULTS")
    if path:
        _state["file"] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in pytest_unconfigure


def pytest_unconfigure(config):
    if _state["file"] is not None:
        _state["file"].close()
        _state["file"] = None


def _write(record):
    out = _state["file"]
    if out is not None:
        out.write(json.dumps(record) + "\n")
        out.flush()


def _detail(item, excinfo):
    try:
        message = excinfo.exconly()
    except Exception as exc:  # a broken __repr__ in the code under test must not lose the result
        message = f"{excinfo.typename}: <message unavailable: {type(exc).__name__}>"
    source = ""
    try:
        mine = [e for e in excinfo.traceback if str(e.path) == str(item.path)]
        # the test function's own frame, not a helper of the test module it called
        name = getattr(item, "originalname", None) or item.name
        own = [e for e in mine if e.name == name]
        if own or mine:
            entry = (own or mine)[-1]
            lines = str(entry.getsource() or "").splitlines()
            # getsource() runs from the function's first line to the end of the failing statement:
            # keep its head (the def) and the lines that lead to the failure
            if len(lines) > _MAX_SOURCE_LINES:
                indent = lines[-1][: len(lines[-1]) - len(lines[-1].lstrip())]
                lines = lines[:2] + [indent + "..."] + lines[-(_MAX_SOURCE_LINES - 3) :]
            source = "\n".join(lines)
    except Exception:
        pass
    return {"message": message[-_MAX_MESSAGE:], "source": source}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        _state["tests"].setdefault(item.nodeid, {}).update(_detail(item, call.excinfo))


def pytest_runtest_logreport(report):
    info = _state["tests"].setdefault(report.nodeid, {})
    if report.when == "setup":
        if report.failed:
            info["outcome"] = "error"
        elif report.skipped:
            info["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    elif report.when == "call":
        if report.failed:
            info["outcome"] = "failed"
        elif report.skipped:
            info["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        else:
            info["outcome"] = "xpassed" if hasattr(report, "wasxfail") else "passed"
    elif report.when == "teardown":
        if report.failed and info.get("outcome") in (None, "passed", "xpassed"):
            info["outcome"] = "error"
        _state["tests"].pop(report.nodeid, None)
        _write({"nodeid": report.nodeid, "outcome": info.get("outcome", "error"),
                "message": info.get("message", ""), "source": info.get("source", "")})  # fmt: skip


def pytest_collectreport(report):
    if report.failed:
        _write({"nodeid": report.nodeid, "outcome": "collect_error", "message": str(report.longrepr)[-_MAX_MESSAGE:],
                "source": ""})  # fmt: skip
