"""The ``swe`` workflow end to end in real Docker sandboxes on a generated fixture task, with scripted
models: test-based selection picks the fix, evolution breeds one from its parents' feedback, and
the predictions batch writes SWE-bench lines, turns bad instances into one error each and resumes.

The model is scripted so that the machinery, not a model's luck, is what is tested; the real
model is in ``test_swe_agent_real.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentscale import registry
from agentscale.errors import SandboxUnavailable
from agentscale.evaluation import RunSettings, ScaledRunner
from agentscale.graphs.swe import (
    PythonDeps,
    RepoSource,
    SWEEvaluator,
    evaluate_files,
    load_instances,
    materialize_repos,
    swe_task,
)
from agentscale.graphs.swe.batch import run_predictions
from agentscale.strategies.evolve import EvolvePolicy
from agentscale.testing import FunctionModel
from agentscale.workflows import WorkflowEnv

pytestmark = [pytest.mark.slow, pytest.mark.docker]
TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "swe" / "tasks.jsonl"
IID = "pypi__inflection-0.5.1-07"
BUG = "        return None\n"
FIX = "        return string[0].lower() + camelize(string)[1:]\n"
WRONG = "        return string\n"


def _cache() -> Path:
    value = os.environ.get("AGENTSCALE_CACHE")
    return (Path(value) if value else Path.home() / ".cache" / "agentscale") / "swe"


@pytest.fixture(scope="module")
def instance():
    tasks = load_instances(TASKS)
    inst = tasks.instances[IID]
    assert materialize_repos([inst], _cache() / "repos", _cache()) == {}
    return inst


@pytest.fixture
async def pool():
    from agentscale.sandboxes import SandboxLimits, open_pool

    limits = SandboxLimits(timeout=120, memory_mb=512, workdir_mb=128)
    try:
        async with open_pool("docker", size=3, limits=limits) as p:
            yield p
    except SandboxUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"docker unavailable under CI: {exc}")
        pytest.skip(f"docker unavailable: {exc}")


def _edit(replace: str) -> str:
    args = {"path": "inflection/__init__.py", "search": BUG, "replace": replace}
    return f"```edit\n{json.dumps(args)}\n```"


def scripted(plan):
    """A model whose rollout ``i`` (read off the seed) replies ``plan(i, prompt)`` at its first step, then submits."""

    def reply(call):
        step = sum(1 for m in call.prompt if m["role"] == "assistant")
        index = (call.seed or 0) - step
        if step == 0:
            return plan(index, call.prompt[1]["content"])
        return "```submit\ndone\n```"

    return FunctionModel(reply)


def _parts(model, pool, **options):
    where = {"repos_dir": str(_cache() / "repos"), "deps_dir": str(_cache() / "deps"), "test_timeout": 120}
    env = WorkflowEnv(model=model, sandboxes=pool, options={**where, **options})
    return registry.create("workflows", "swe").build(env)


async def test_best_of_n_selects_the_patch_the_visible_tests_pass(instance, pool):
    def plan(index, prompt):
        return [_edit(FIX), _edit(WRONG), "```view\n{\"path\": \"inflection/__init__.py\", \"start\": 160}\n```"][index]

    model = scripted(plan)
    runner = ScaledRunner(_parts(model, pool), RunSettings(workflow="swe", strategy="best_of_n", n=3),
                          model=model, sandboxes=pool)  # fmt: skip
    record = await runner.run(swe_task(instance))
    by_index = {r.index: r for r in record.rollouts}
    assert record.status == "chosen" and record.selected_index == 0
    assert record.score is not None and record.score.passed  # resolved by the hidden tests
    assert by_index[0].verdict.passed and by_index[0].verdict.score == 1.0
    assert not by_index[1].verdict.passed and "test_camelize_with_lower_downcases_the_first_letter" in (
        by_index[1].verdict.feedback
    )
    assert by_index[2].output == "" and by_index[2].verdict.score == 0.0 and "empty" in by_index[2].verdict.feedback
    assert "+" + FIX.rstrip("\n") in record.answer


async def test_evolution_breeds_a_fix_from_its_parents_feedback(instance, pool):
    def plan(index, prompt):
        # the first generation guesses wrong; a child that was shown a failing candidate fixes it
        return _edit(FIX) if "<candidate" in prompt and "visible tests fail" in prompt else _edit(WRONG)

    model = scripted(plan)
    policy = EvolvePolicy(generations=1)
    settings = RunSettings(workflow="swe", strategy="evolve", n=2, strategy_options={"policy": policy})
    runner = ScaledRunner(_parts(model, pool), settings, model=model, sandboxes=pool)
    record = await runner.run(swe_task(instance))
    chosen = record.chosen
    assert chosen is not None and chosen.generation == 1 and chosen.step == "evolve" and chosen.parents
    assert record.status == "chosen" and record.score.passed


async def test_the_batch_writes_predictions_reports_bad_instances_and_resumes(instance, pool, tmp_path):
    good = instance.model_dump(mode="json")
    lost = {**good, "instance_id": "gone__repo-1", "repo": "gone/repo"}
    bad_commit = {**good, "instance_id": "pypi__inflection-bad", "base_commit": "0" * 40}
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join([json.dumps(good), '{"instance_id": "broken", "repo": ', json.dumps(lost),
                                json.dumps(bad_commit)]) + "\n")  # fmt: skip
    model = scripted(lambda index, prompt: _edit(FIX))
    runner = ScaledRunner(_parts(model, pool), RunSettings(workflow="swe", strategy="best_of_n", n=1),
                          model=model, sandboxes=pool)  # fmt: skip
    repos = RepoSource(root=_cache() / "repos")
    preds, runs = tmp_path / "preds.jsonl", tmp_path / "preds.runs.jsonl"
    report = await run_predictions(load_instances(tasks), runner, out=preds, runs=runs, repos=repos,
                                   model_name="scripted", workers=2)  # fmt: skip
    assert report.written == [IID]
    errors = dict(report.errors)
    assert set(errors) == {"broken", "gone__repo-1", "pypi__inflection-bad"}
    assert "not valid JSON" in errors["broken"] and "'gone/repo' not found" in errors["gone__repo-1"]
    assert "0000000" in errors["pypi__inflection-bad"]
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert [(x["instance_id"], x["model_name_or_path"]) for x in lines] == [(IID, "scripted")]
    assert set(lines[0]) == {"instance_id", "model_name_or_path", "model_patch"}

    calls = len(model.calls)
    again = await run_predictions(load_instances(tasks), runner, out=preds, runs=runs, repos=repos,
                                  model_name="scripted", workers=2)  # fmt: skip
    assert again.skipped == [IID] and again.written == [] and len(model.calls) == calls
    assert len(preds.read_text().splitlines()) == 1

    async with SWEEvaluator(repos, deps=PythonDeps(_cache() / "deps"), pool=pool, workers=1) as ev:
        scored = await evaluate_files(preds, tasks, ev)
    assert scored.resolved_ids == [IID]


def test_the_cli_writes_predictions_and_a_summary(instance, tmp_path, monkeypatch, capsys):
    """``agentscale swe run`` end to end, with the scripted model in place of a server."""
    import contextlib

    from agentscale.cli import main, swe_run
    from agentscale.cli._common import Runtime
    from agentscale.sandboxes import SandboxLimits, open_pool

    model = scripted(lambda index, prompt: _edit(FIX))

    @contextlib.asynccontextmanager
    async def scripted_runtime(args, workflow, *, pool_size=4, on_status=None):
        async with open_pool("docker", size=2, limits=SandboxLimits(timeout=120)) as pool:
            yield Runtime(llm=model, chat_llm=model, sandboxes=pool, model="scripted", api_base=None, note="scripted")

    monkeypatch.setattr(swe_run, "open_runtime", scripted_runtime)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(instance.model_dump(mode="json")) + "\n" + json.dumps({"instance_id": "x"}) + "\n")
    preds = tmp_path / "preds.jsonl"
    code = main(["swe", "run", str(tasks), "--out", str(preds), "-n", "1", "--backend", "docker",
                 "--cache-dir", str(_cache().parent)])  # fmt: skip
    out = capsys.readouterr()
    assert code == 1  # the bad line is an error; the good task still ran
    assert f"{tasks}:2: x: repo: Field required" in out.err
    assert "pypi__infl" in out.out and "yes" in out.out  # the summary row: resolved by the hidden tests
    (line,) = [json.loads(x) for x in preds.read_text().splitlines()]
    assert (line["instance_id"], line["model_name_or_path"]) == (IID, "scripted")
    assert FIX.strip() in line["model_patch"]
    runs = [json.loads(x) for x in (tmp_path / "preds.runs.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in runs] == [IID] and runs[0]["score"]["passed"] is True
