"""The SWE scoring path and the generator for real: generated tasks, real git and pytest, in Docker and
bubblewrap sandboxes.

The repositories of the committed fixture set are rebuilt from PyPI first (``materialize_repos``:
sdists cached under ``$AGENTSCALE_CACHE/swe``, every base commit checked by its hash). Locally the
tests skip when a backend cannot start; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from agentscale.errors import SandboxUnavailable
from agentscale.graphs.swe import (
    FIXTURE_PACKAGES,
    PythonDeps,
    RepoSource,
    SWEEvaluator,
    evaluate_files,
    generate_package,
    load_instances,
    materialize_repos,
    prepare_repo,
    run_tests,
)

pytestmark = pytest.mark.slow
TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "swe" / "tasks.jsonl"
BACKENDS = [
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("bwrap", marks=pytest.mark.bwrap, id="bwrap"),
]
ENABLE = "run scripts/docker-engine.sh (as root) to install bubblewrap/debootstrap and start a Docker engine"


def _cache() -> Path:
    value = os.environ.get("AGENTSCALE_CACHE")
    return (Path(value) if value else Path.home() / ".cache" / "agentscale") / "swe"


@pytest.fixture(scope="module")
def fixture_set():
    """The committed tasks, with their repositories rebuilt from PyPI (fast after the first time)."""
    tasks = load_instances(TASKS)
    assert not tasks.errors
    errors = materialize_repos(tasks.instances.values(), _cache() / "repos", _cache())
    assert errors == {}
    return tasks.instances


def _first(instances, package):
    return next(i for i in instances.values() if i.model_extra["pypi"]["name"] == package)


def _unavailable(backend, exc):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{backend} unavailable under CI: {exc}")
    pytest.skip(f"{backend} unavailable: {exc}; to enable: {ENABLE}")


@pytest.fixture(params=BACKENDS)
async def evaluator(request):
    from agentscale.sandboxes import SandboxLimits

    limits = SandboxLimits(timeout=120, memory_mb=512, workdir_mb=128)
    repos, deps = RepoSource(root=_cache() / "repos"), PythonDeps(_cache() / "deps")
    ev = SWEEvaluator(repos, deps=deps, backend=request.param, workers=2, limits=limits, timeout=300)
    try:
        await ev.start()
    except SandboxUnavailable as exc:
        await ev.aclose()
        _unavailable(request.param, exc)
    async with ev:
        yield ev


async def _agent_patch(ev, instance, command):
    """A patch made the way an agent makes one: edit the prepared checkout, then ``git_diff()``."""
    async with ev.lease(instance) as sandbox:
        prepared = await prepare_repo(sandbox, instance, ev.repos, ev.deps)
        assert prepared.workdir == "/work"
        edit = await sandbox.run(command, env=prepared.env)
        assert edit.ok, edit.stderr
        return await sandbox.git_diff()


async def test_scoring_is_trustworthy_and_bad_inputs_are_errors(evaluator, fixture_set, tmp_path):
    inst = _first(fixture_set, "python-slugify")  # the quickest suite of the set
    buggy = inst.model_extra["mutation"]["path"]
    # a wrong fix made through the agent's path: it touches the buggy file but leaves the bug
    wrong = await _agent_patch(evaluator, inst, f"printf '\\n# looked into this\\n' >> {buggy}")
    assert wrong.startswith(f"diff --git a/{buggy} b/{buggy}") and "+# looked into this" in wrong
    stale = re.sub(r"(?m)^ (.*)$", r" \1  # edited since", inst.patch)  # the context no longer matches
    added = (  # a test_patch as SWE-bench has them: new tests, applied after the model's patch
        "diff --git a/test_added.py b/test_added.py\nnew file mode 100644\n--- /dev/null\n+++ b/test_added.py\n"
        "@@ -0,0 +1,4 @@\n+from slugify import slugify\n+\n+def test_added():\n+    assert slugify('A b') == 'a-b'\n"
    )
    f2p = [*inst.FAIL_TO_PASS, "test_added.py::test_added"]
    with_tests = inst.model_copy(update={"instance_id": "with-test-patch", "test_patch": added, "FAIL_TO_PASS": f2p})
    tasks = tmp_path / "tasks.jsonl"
    rows = [
        inst.model_dump_json(),
        with_tests.model_dump_json(),
        inst.model_copy(update={"instance_id": "bad-commit", "base_commit": "0" * 40}).model_dump_json(),
        inst.model_copy(update={"instance_id": "no-repo", "repo": "pypi/not-built-here"}).model_dump_json(),
        '{"instance_id": "malformed", "repo": "pypi/x", "FAIL_TO_PASS": ',
    ]
    tasks.write_text("\n".join(rows) + "\n")
    preds = tmp_path / "preds.jsonl"
    variants = {"gold": inst.patch, "empty": "", "wrong": wrong, "stale": stale}
    lines = []
    for name, patch in variants.items():
        lines.append({"instance_id": inst.instance_id, "model_name_or_path": name, "model_patch": patch})
    for iid in ("with-test-patch", "bad-commit", "no-repo", "malformed"):
        lines.append({"instance_id": iid, "model_name_or_path": "gold", "model_patch": inst.patch})

    results, reports = {}, {}
    for name in variants:  # one file per variant: one prediction per instance, as the harness takes them
        # the other instances (bad inputs, a test_patch) are predicted by "gold" only
        chosen = [x for x in lines if x["model_name_or_path"] == name]
        preds.write_text("".join(json.dumps(x) + "\n" for x in chosen))
        reports[name] = report = await evaluate_files(preds, tasks, evaluator, out=tmp_path / f"{name}.json")
        results[name] = report.instances[inst.instance_id]
        assert json.loads((tmp_path / f"{name}.json").read_text())["instances"][inst.instance_id]["status"]
    assert results["gold"].status == "resolved", results["gold"]
    assert results["gold"].tests_status["FAIL_TO_PASS"]["failure"] == []
    assert len(results["gold"].tests_status["PASS_TO_PASS"]["success"]) == len(inst.PASS_TO_PASS)
    assert results["empty"].status == "empty_patch"
    assert results["wrong"].status == "unresolved" and results["wrong"].patch_successfully_applied
    assert results["wrong"].tests_status["FAIL_TO_PASS"]["failure"] == inst.FAIL_TO_PASS
    assert results["stale"].status == "error" and results["stale"].error.startswith("patch does not apply")
    # the bad inputs of the gold batch: one clear error each, the rest scored
    report = reports["gold"]
    assert report.instances["bad-commit"].status == "error"
    assert "has no commit '0000000000000000000000000000000000000000'" in report.instances["bad-commit"].error
    assert "repository 'pypi/not-built-here' not found" in report.instances["no-repo"].error
    assert "line 5" in report.instances["malformed"].error
    assert report.input_errors[0]["line"] == 5
    # a test_patch is applied after the model's patch and its tests count
    added_result = report.instances["with-test-patch"]
    assert added_result.status == "resolved"
    assert added_result.tests_status["FAIL_TO_PASS"]["success"] == f2p


@pytest.mark.docker
async def test_generator_is_deterministic_and_its_tasks_match_the_fixture(fixture_set, tmp_path):
    from agentscale.sandboxes import SandboxLimits, open_pool

    spec = next(s for s in FIXTURE_PACKAGES if s.name == "python-slugify")
    expected = _first(fixture_set, "python-slugify")
    limits = SandboxLimits(timeout=120, memory_mb=512, workdir_mb=128)
    try:
        async with open_pool("docker", size=2, limits=limits) as pool:
            (made,) = await generate_package(
                dataclasses.replace(spec, count=1), pool, repos_root=tmp_path / "repos", cache_dir=_cache()
            )
    except SandboxUnavailable as exc:
        _unavailable("docker", exc)
    # a fresh repository from the same sdist: the same commits, tests, statement and gold patch
    assert made.model_dump() == expected.model_dump()
    statement = made.problem_statement
    mutation = made.model_extra["mutation"]
    assert "slugify" in statement and mutation["path"] not in statement and f"line {mutation['line']}" not in statement


@pytest.mark.bwrap
def test_cli_eval_writes_the_report(fixture_set, tmp_path, capsys):
    import shutil

    from agentscale.cli import main

    if shutil.which("bwrap") is None:
        _unavailable("bwrap", "bubblewrap is not installed")
    inst = _first(fixture_set, "inflection")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(inst.model_dump_json() + "\n")
    preds = tmp_path / "preds.jsonl"
    pred = {"instance_id": inst.instance_id, "model_name_or_path": "m", "model_patch": inst.patch}
    preds.write_text(json.dumps(pred) + "\n")
    code = main(["swe", "eval", str(preds), "--tasks", str(tasks), "--backend", "bwrap",
                 "--repos-dir", str(_cache() / "repos"), "--cache-dir", str(_cache().parent)])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "1 resolved, 0 unresolved, 0 errors, 0 empty patches of 1 submitted" in out.out
    report = json.loads((tmp_path / "preds.report.json").read_text())
    assert report["resolved_ids"] == [inst.instance_id]
    bad = main(["swe", "eval", str(tmp_path / "missing.jsonl"), "--tasks", str(tasks)])
    assert bad == 1 and "no such file" in capsys.readouterr().err


@pytest.mark.bwrap
async def test_tests_run_in_the_prepared_checkout(fixture_set):
    """run_tests on the base commit: FAIL_TO_PASS fail and PASS_TO_PASS pass, as recorded (bubblewrap)."""
    from agentscale.sandboxes import SandboxLimits, open_sandbox

    inst = _first(fixture_set, "toolz")
    try:
        async with open_sandbox("bwrap", limits=SandboxLimits(timeout=120, workdir_mb=128)) as sandbox:
            repos, deps = RepoSource(root=_cache() / "repos"), PythonDeps(_cache() / "deps")
            prepared = await prepare_repo(sandbox, inst, repos, deps)
            run = await run_tests(sandbox, prepared, sorted({t.split("::")[0] for t in inst.FAIL_TO_PASS}))
            listed = await sandbox.run("git status --porcelain && ls -a")
    except SandboxUnavailable as exc:
        _unavailable("bwrap", exc)
    assert all(not run.passed(t) for t in inst.FAIL_TO_PASS)
    assert run.results[inst.FAIL_TO_PASS[0]].message  # the failure's details come back
    assert ".swe" in listed.stdout and "?? .swe" not in listed.stdout  # our folder stays out of git


@pytest.mark.docker
async def test_the_evaluation_image_is_chosen_per_task(fixture_set):
    import docker

    from agentscale.graphs.swe import Prediction
    from agentscale.sandboxes import ensure_image, image_tag

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        _unavailable("docker", exc)
    try:
        ensure_image(client, _cache().parent)
    finally:
        client.close()
    inst = _first(fixture_set, "python-slugify")
    other = inst.model_copy(update={"instance_id": "needs-another-image"})
    chosen = {inst.instance_id: image_tag(), other.instance_id: "agentscale-no-such-image:1"}
    repos, deps = RepoSource(root=_cache() / "repos"), PythonDeps(_cache() / "deps")
    async with SWEEvaluator(repos, deps=deps, backend="docker", image=lambda i: chosen[i.instance_id]) as ev:
        results = await ev.evaluate(
            [Prediction(instance_id=i.instance_id, model_patch=inst.patch) for i in (inst, other)],
            {i.instance_id: i for i in (inst, other)},
        )
    by_id = {r.instance_id: r for r in results}
    assert by_id[inst.instance_id].status == "resolved"
    assert by_id[other.instance_id].status == "error"
    assert "agentscale-no-such-image:1" in by_id[other.instance_id].error
