"""The evaluator's control flow with a scripted sandbox: every bad input is one clear error for its
task, the batch goes on, and the report on disk always holds every finished instance.

The real scoring path (real git, real pytest, Docker and bubblewrap) is tested in
``test_swe_sandboxes.py``; here the sandbox only pretends, so the bookkeeping is quick to check.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from agentscale.graphs.swe import EvalReport, RepoSource, SWEEvaluator, evaluate_files
from agentscale.types import ExecResult

F2P = ["tests/test_m.py::test_fixed"]
P2P = ["tests/test_m.py::test_other"]


class ScriptedRepoSandbox:
    """Pretends to be a sandbox: ``git apply`` accepts patches containing FIX or BREAK; pytest passes
    everything after FIX and fails the FAIL_TO_PASS test otherwise."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.patched = ""

    async def put_archive(self, archive: bytes) -> None:
        pass

    async def commit_baseline(self, message: str = "baseline") -> None:
        pass

    async def git_diff(self) -> str:
        return ""

    async def read_files(self, paths):
        return {p: self.files[p] for p in paths if p in self.files}

    async def run(self, command, *, files=None, timeout=None, env=None) -> ExecResult:
        for path, data in (files or {}).items():
            self.files[path] = data.encode() if isinstance(data, str) else data
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        if argv[:2] == ["git", "apply"]:
            patch = self.files[argv[-1]].decode()
            if "FIX" in patch or "BREAK" in patch:
                self.patched += patch
                return ExecResult(exit_code=0)
            return ExecResult(exit_code=1, stderr="error: patch failed: m.py:1\nerror: m.py: patch does not apply")
        if "pytest" in argv:
            fixed = "FIX" in self.patched
            lines = [
                {"nodeid": F2P[0], "outcome": "passed" if fixed else "failed", "message": "", "source": ""},
                {"nodeid": P2P[0], "outcome": "passed", "message": "", "source": ""},
            ]
            self.files[".swe/results.jsonl"] = "".join(json.dumps(x) + "\n" for x in lines).encode()
            return ExecResult(exit_code=0 if fixed else 1, stdout="1 failed, 1 passed")
        if argv[:2] == ["bash", "-c"] and "git init" in argv[2]:
            return ExecResult(exit_code=0, stdout="/work\n")
        return ExecResult(exit_code=0)


class ScriptedPool:
    def __init__(self) -> None:
        self.leases = 0

    @contextlib.asynccontextmanager
    async def lease(self):
        self.leases += 1
        yield ScriptedRepoSandbox()

    async def aclose(self) -> None:
        pass


def _instance(iid, repo="octo/repo", commit="abc123"):
    return {"instance_id": iid, "repo": repo, "base_commit": commit, "problem_statement": "m() is wrong",
            "FAIL_TO_PASS": F2P, "PASS_TO_PASS": P2P}  # fmt: skip


def _pred(iid, patch):
    return json.dumps({"instance_id": iid, "model_name_or_path": "scripted", "model_patch": patch})


@pytest.fixture
def root(tmp_path):
    (tmp_path / "repos" / "octo__repo").mkdir(parents=True)
    (tmp_path / "repos" / "octo__repo" / "m.py").write_text("x = 1\n")
    return tmp_path / "repos"


async def test_bad_inputs_are_one_error_each_and_the_batch_goes_on(tmp_path, root):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join([
        json.dumps(_instance("ok-fixed")),
        json.dumps(_instance("ok-wrong")),
        json.dumps(_instance("no-apply")),
        json.dumps(_instance("empty")),
        json.dumps({**_instance("malformed"), "FAIL_TO_PASS": "[oops"}),
        json.dumps(_instance("no-repo", repo="octo/missing")),
        "{truncated",
        json.dumps(_instance("not-predicted")),
        json.dumps({**_instance("stale-test-patch"), "test_patch": "diff garbage"}),
    ]) + "\n")  # fmt: skip
    preds = tmp_path / "preds.jsonl"
    preds.write_text("\n".join([
        _pred("ok-fixed", "diff FIX"),
        _pred("ok-wrong", "diff BREAK"),
        _pred("no-apply", "diff garbage"),
        _pred("empty", ""),
        _pred("malformed", "diff FIX"),
        _pred("no-repo", "diff FIX"),
        _pred("stranger", "diff FIX"),
        _pred("stale-test-patch", "diff FIX"),
        "not json",
    ]) + "\n")  # fmt: skip
    out = tmp_path / "report.json"
    pool = ScriptedPool()
    seen_on_disk = []

    def check_saved(result):
        saved = json.loads(out.read_text())
        seen_on_disk.append(result.instance_id in saved["instances"])

    async with SWEEvaluator(RepoSource(root=root), pool=pool, workers=2) as evaluator:
        report = await evaluate_files(preds, tasks, evaluator, out=out, on_result=check_saved)

    assert report.resolved_ids == ["ok-fixed"]
    assert report.unresolved_ids == ["ok-wrong"]
    assert report.empty_patch_ids == ["empty"]
    assert report.error_ids == ["malformed", "no-apply", "no-repo", "stale-test-patch"]
    errors = {i: report.instances[i].error for i in report.error_ids}
    assert errors["no-apply"].startswith("patch does not apply: error: patch failed")
    assert "line 5" in errors["malformed"] and "FAIL_TO_PASS" in errors["malformed"]
    assert "repository 'octo/missing' not found" in errors["no-repo"]
    assert errors["stale-test-patch"].startswith("test_patch does not apply")
    assert report.instances["stale-test-patch"].patch_successfully_applied
    assert report.incomplete_ids == ["not-predicted"]
    assert report.submitted_instances == 7 and report.total_instances == 8  # ids known from the task file
    bad_lines = {(e["file"].rsplit("/", 1)[-1], e["line"], e["instance_id"]) for e in report.input_errors}
    assert bad_lines == {("tasks.jsonl", 5, "malformed"), ("tasks.jsonl", 7, None),
                         ("preds.jsonl", 9, None), ("preds.jsonl", None, "stranger")}  # fmt: skip
    ok = report.instances["ok-fixed"]
    assert ok.tests_status["FAIL_TO_PASS"] == {"success": F2P, "failure": []}
    wrong = report.instances["ok-wrong"]
    assert wrong.tests_status["FAIL_TO_PASS"] == {"success": [], "failure": F2P}
    assert wrong.tests_status["PASS_TO_PASS"] == {"success": P2P, "failure": []}
    assert wrong.patch_successfully_applied and not wrong.resolved
    assert all(seen_on_disk) and len(seen_on_disk) == 6  # each result was on disk as soon as it finished
    assert pool.leases == 4  # no sandbox for an empty patch or a repository that cannot be found
    assert EvalReport.model_validate_json(out.read_text()) == report


def test_report_tallies_like_the_harness():
    from agentscale.graphs.swe import InstanceResult

    results = [
        InstanceResult(instance_id="a", status="resolved", resolved=True),
        InstanceResult(instance_id="b", status="error", error="x"),
        InstanceResult(instance_id="b", status="unresolved"),  # the later result for an id wins
    ]
    report = EvalReport.build(["a", "b", "c"], ["a", "b"], results)
    assert (report.total_instances, report.submitted_instances, report.completed_instances) == (3, 2, 2)
    assert report.resolved_ids == ["a"] and report.unresolved_ids == ["b"] and report.incomplete_ids == ["c"]
    assert report.error_instances == 0


def test_an_image_needs_a_named_backend(root):
    from agentscale.errors import ConfigError

    with pytest.raises(ConfigError, match="needs backend='docker'"):
        SWEEvaluator(RepoSource(root=root), image="img:1")
    with pytest.raises(ConfigError, match="workers"):
        SWEEvaluator(RepoSource(root=root), workers=0)
