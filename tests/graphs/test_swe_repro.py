"""Selection among SWE patches with scripted models and scripted sandboxes: the reproduction tests' vote
(zero-weight tests, ties, crashes and hangs), that the tests run only inside fresh sandboxes, that
the test writer and the judge are charged, and that the judge sees diffs and summaries, not
transcripts. The same selection in real Docker sandboxes is ``test_swe_repro_docker.py``.
"""

from __future__ import annotations

import asyncio
import subprocess
from contextlib import asynccontextmanager

import pytest

from agentscale import Budget, Rollout, Task, Verdict, registry
from agentscale.budget import usage_ledger
from agentscale.errors import ConfigError, ModelAPIError
from agentscale.graphs.swe import (
    PatchSelector,
    RepoSource,
    ReproWriter,
    SWEInstance,
    SWESummarizer,
    repro_vote,
    swe_summary,
    swe_task,
)
from agentscale.graphs.swe.repro import REPRO_DIR
from agentscale.selectors import RecursiveTournament
from agentscale.strategies import ScaleContext, scale
from agentscale.testing import FakeModel, FakeRepoSandbox, FunctionModel
from agentscale.types import ExecResult
from agentscale.workflows import WorkflowEnv

STATEMENT = "`calc.add(2, 3)` returns -1; I expect 5."
PATCH = {
    "fix": "diff --git a/calc.py b/calc.py\n-    return a - b\n+    return a + b\n",
    "wrong": "diff --git a/calc.py b/calc.py\n-    return a - b\n+    return b - a\n",
    "other": "diff --git a/calc.py b/calc.py\n-    return a - b\n+    return abs(a - b)\n",
}


def _test(name: str) -> str:
    return f"```python\nimport calc\n\n\ndef test_{name}():\n    assert calc.add(2, 3) == 5  # {name}\n```"


@pytest.fixture
def task(tmp_path):
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    inst = SWEInstance(instance_id="me__calc-1", repo="me/calc", base_commit="0" * 40, problem_statement=STATEMENT,
                       FAIL_TO_PASS=["test_calc.py::test_hidden_name"], patch="GOLD PATCH")  # fmt: skip
    return swe_task(inst)


@pytest.fixture
def repos(tmp_path):
    return RepoSource({"me/calc": str(tmp_path)})  # a plain folder: no git runs on the host either


class Provider:
    """Leases a fresh ``FakeRepoSandbox`` per lease; ``outcome(patch name, test name)`` scripts each test run."""

    def __init__(self, outcome, *, reset_fails: bool = False):
        self.outcome = outcome
        self.reset_fails = reset_fails
        self.leased: list[FakeRepoSandbox] = []

    def handler(self, argv, files):
        path = argv[-1]
        if self.reset_fails and path.startswith("git reset"):
            return ExecResult(exit_code=128, stderr="fatal: index.lock exists")
        if not path.startswith(REPRO_DIR):
            return ExecResult(exit_code=0, stdout="/work\n")  # git init, git apply, git reset
        patch = files.get(".swe/candidate.patch", b"").decode()
        name = next((k for k, v in PATCH.items() if v == patch), "base")
        test = files[path].decode().split("# ")[-1].split("\n")[0]
        result = self.outcome(name, test)
        if result == "hang":
            return ExecResult(exit_code=-9, timed_out=True)
        return ExecResult(exit_code={"pass": 0, "fail": 1, "crash": 139}[result])

    @asynccontextmanager
    async def lease(self):
        box = FakeRepoSandbox(handler=self.handler)
        self.leased.append(box)
        yield box


def _rollouts(*names: str) -> list[Rollout]:
    return [Rollout(id=f"r{i}-{n}", task_id="me__calc-1", output=PATCH.get(n, "")) for i, n in enumerate(names)]


def _verdicts(rollouts, scores):
    return {r.id: Verdict(rollout_id=r.id, score=s, passed=s == 1.0) for r, s in zip(rollouts, scores, strict=True)}


def test_the_vote_weighs_only_tests_that_split_the_candidates_and_fail_at_the_base():
    results = {
        "a": [True, True, False, True, None],
        "b": [False, True, False, True, True],
        "c": [False, True, False, False, False],
    }
    base = [False, False, False, True, False]
    vote = repro_vote(results, base=base)
    # t0 splits; t1 every candidate passes; t2 every candidate fails; t3 passes at the base; t4 splits (a unknown)
    assert vote.weights == [1, 0, 0, 0, 1]
    assert vote.why == {1: "every candidate passes it", 2: "every candidate fails it",
                        3: "passes without any patch: does not reproduce the issue"}  # fmt: skip
    assert vote.scores == {"a": 1, "b": 1, "c": 0} and vote.informative == 2
    assert repro_vote({"a": [True], "b": [True]}).scores == {"a": 0, "b": 0}  # a tie: nothing informative
    assert repro_vote({"a": [None], "b": [None]}).why == {0: "no candidate's run of it is known"}


async def test_tests_run_in_a_fresh_sandbox_per_patch_and_never_on_the_host(task, repos, monkeypatch):
    host: list[str] = []  # every process started on the host (the repository is read with git there)
    popen, create_exec = subprocess.Popen, asyncio.create_subprocess_exec

    class RecordingPopen(popen):
        def __init__(self, args, *rest, **kwargs):
            host.append(" ".join(args) if isinstance(args, list) else str(args))
            super().__init__(args, *rest, **kwargs)

    async def recording_exec(program, *args, **kwargs):
        host.append(" ".join([program, *args]))
        return await create_exec(program, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", recording_exec)
    provider = Provider(lambda patch, test: "pass" if patch == "fix" else "fail")
    writer = ReproWriter(FakeModel([_test("one"), _test("two")]), count=2)
    selector = PatchSelector(provider, repos, writer=writer)
    rollouts = _rollouts("wrong", "fix", "wrong")
    chosen = await selector.select(task, rollouts, {})
    assert chosen.rollout_id == rollouts[1].id
    assert chosen.scores == {rollouts[0].id: 0.0, rollouts[1].id: 2.0, rollouts[2].id: 0.0}
    # one lease for the base commit, one per distinct patch: each checks out, applies (or not) and runs
    assert len(provider.leased) == 3
    applied = sorted(b.files.get(".swe/candidate.patch", b"base").decode() for b in provider.leased)
    assert applied == sorted(["base", PATCH["fix"], PATCH["wrong"]])
    for box in provider.leased:
        assert "<checkout>" in box.files
        runs = [c for c in box.commands if c[-1].startswith(REPRO_DIR)]
        assert [c[-1] for c in runs] == [f"{REPRO_DIR}/test_repro_0.py", f"{REPRO_DIR}/test_repro_1.py"]
        assert runs[0][:3] == ["python3", "-m", "pytest"]
        assert sum("git reset -q --hard" in " ".join(c) for c in box.commands) == 2  # restored after each test
    assert host and all(cmd.startswith("git ") and "python" not in cmd and "repro" not in cmd for cmd in host)


async def test_a_crash_or_a_hang_loses_only_that_test(task, repos):
    def outcome(patch, test):
        if test == "hangs":
            return "hang" if patch == "fix" else "fail"  # informative by the rule, but the fix cannot pass it
        if test == "crashes":
            return {"fix": "crash", "wrong": "pass"}.get(patch, "fail")
        return "pass" if patch == "fix" else "fail"  # "one" and "two" reproduce the issue

    provider = Provider(outcome)
    replies = [_test("one"), _test("hangs"), _test("crashes"), _test("two")]
    selector = PatchSelector(provider, repos, writer=ReproWriter(FakeModel(replies), count=4))
    rollouts = _rollouts("wrong", "fix")
    chosen = await selector.select(task, rollouts, {})
    # the fix passes "one" and "two"; "crashes" splits the other way (wrong +1); "hangs" fails everywhere
    assert chosen.rollout_id == rollouts[1].id
    assert chosen.scores == {rollouts[0].id: 1.0, rollouts[1].id: 2.0}
    assert "3 of 4 informative" in chosen.reason and "test 2: every candidate fails it" in chosen.reason


async def test_a_checkout_that_cannot_be_reset_makes_the_later_tests_unknown(task, repos):
    from agentscale.graphs.swe import instance_of, run_repro_tests

    writer = ReproWriter(FakeModel([_test("one"), _test("two")]), count=2)
    tests = (await writer.write(task)).tests
    provider = Provider(lambda patch, test: "pass", reset_fails=True)
    async with provider.lease() as box:
        run = await run_repro_tests(box, instance_of(task), PATCH["fix"], tests, repos)
    assert run.passed == [True, None] and "index.lock" in run.error
    assert run.notes[1] == "not run: the checkout could not be reset"


async def test_ties_go_to_the_visible_tests_then_to_copies_then_to_the_earliest(task, repos):
    provider = Provider(lambda patch, test: "pass" if patch in ("fix", "other") else "fail")
    selector = PatchSelector(provider, repos, writer=ReproWriter(FakeModel([_test("one")], cycle=True), count=1))
    rollouts = _rollouts("other", "wrong", "fix")
    by_visible = await selector.select(task, rollouts, _verdicts(rollouts, [0.6, 1.0, 0.9]))
    assert by_visible.rollout_id == rollouts[2].id  # tied on the tests with "other"; the visible tests say fix
    # equal verdicts: the patch more rollouts wrote, else the earliest
    rollouts = _rollouts("other", "fix", "fix", "wrong")
    by_copies = await selector.select(task, rollouts, _verdicts(rollouts, [1.0] * 4))
    assert by_copies.rollout_id == rollouts[1].id and "the rule chose the patch 2 rollout(s) wrote" in by_copies.reason
    rollouts = _rollouts("other", "fix", "wrong")
    assert (await selector.select(task, rollouts, _verdicts(rollouts, [1.0] * 3))).rollout_id == rollouts[0].id


async def test_the_writer_sees_the_issue_only_and_a_failed_or_unreadable_call_loses_its_test(task):
    def reply(call):
        seed = call.seed or 0
        if seed == 1:
            raise ModelAPIError("the server went away", model="fake")
        return ["Sure", "", _test("one"), _test("one"), _test("two")][seed]

    model = FunctionModel(reply)
    written = await ReproWriter(model, count=5).write(task)
    prompt = "\n".join(m["content"] for m in model.calls[0].prompt)
    assert STATEMENT in prompt and "me/calc" in prompt
    assert "GOLD PATCH" not in prompt and "test_hidden_name" not in prompt and "return a - b" not in prompt
    assert [t.index for t in written.tests] == [0, 1] and all(t.kind == "pytest" for t in written.tests)
    assert written.asked == 5 and len(written.dropped) == 3 and written.usage.calls == 4
    assert any("ModelAPIError" in d for d in written.dropped) and any("same test" in d for d in written.dropped)
    assert any("checks nothing" in d for d in written.dropped)  # "Sure" parses as Python, and tests nothing
    script = await ReproWriter(FakeModel(["```python\nimport calc\nassert calc.add(2, 3) == 5\n```"]), count=1).write(
        task
    )
    assert script.tests[0].kind == "script" and script.tests[0].argv()[0] == "python3"


async def test_the_writer_and_the_judge_are_charged_to_the_runs_budget(task, repos):
    provider = Provider(lambda patch, test: "pass" if patch != "base" else "fail")  # both candidates pass: a tie
    writer_model = FakeModel([_test("one")], cycle=True)
    judge_model = FakeModel(['{"reason": "adds", "choice": 1}'], cycle=True)
    judge = RecursiveTournament(judge_model, votes=2, summarizer=SWESummarizer())
    selector = PatchSelector(provider, repos, writer=ReproWriter(writer_model, count=2), judge=judge)
    outputs = [PATCH["wrong"], PATCH["fix"]]

    async def agent(t: Task, request) -> Rollout:
        return Rollout(task_id=t.id, output=outputs[request.index])

    budget = Budget()
    state = await scale(agent, n=2, selector=selector).ainvoke({"task": task}, context=ScaleContext(budget=budget))
    assert state["selected"].rollout_id is not None and "the judge chose" in state["selected"].reason
    assert len(writer_model.calls) == 2 and len(judge_model.calls) == 2 and budget.spent.calls == 4
    assert budget.spent.total_tokens > 0 and "tokens)" in state["selected"].reason


async def test_the_judge_sees_diffs_and_summaries_not_raw_transcripts(task, repos):
    secret_view = "x = 1\n" * 400 + "MIDDLE_OF_A_FILE_VIEW\n" + "y = 2\n" * 400

    def rollout(i, patch):
        trajectory = [
            {"role": "system", "content": "You are a software engineer."},
            {"role": "user", "content": STATEMENT},
            {"role": "assistant", "content": 'I think THE_MODELS_PRIVATE_MUSING.\n```view\n{"path": "calc.py"}\n```'},
            {"role": "user", "name": "view", "content": "Observation:\n" + secret_view},
            {"role": "assistant", "content": '```edit\n{"path": "calc.py", "search": "-", "replace": "+"}\n```'},
            {"role": "user", "name": "edit", "content": "Observation:\nEdited calc.py at line 2."},
            {"role": "assistant", "content": "```submit\ndone\n```"},
        ]
        return Rollout(id=f"r{i}", task_id=task.id, output=patch, trajectory=trajectory,
                       metadata={"submitted": True, "message": "done"})  # fmt: skip

    rollouts = [rollout(0, PATCH["wrong"]), rollout(1, PATCH["fix"])]
    judge_model = FakeModel(['{"reason": "r", "choice": 2}'], cycle=True)
    selector = registry.create("selectors", "swe_repro", model=judge_model, sandboxes=Provider(None), repos=repos,
                               tests=0, judge=True, judge_votes=2)  # fmt: skip
    with usage_ledger() as ledger:
        chosen = await selector.select(task, rollouts, _verdicts(rollouts, [1.0, 1.0]))
    assert chosen.rollout_id in ("r0", "r1") and ledger.measured.calls == len(judge_model.calls) == 2
    for call in judge_model.calls:
        prompt = "\n".join(m["content"] for m in call.prompt)
        assert PATCH["fix"].strip() in prompt and PATCH["wrong"].strip() in prompt
        assert "view calc.py" in prompt and "edit calc.py" in prompt and "submitted (done)" in prompt
        assert "MIDDLE_OF_A_FILE_VIEW" not in prompt and "THE_MODELS_PRIVATE_MUSING" not in prompt
        assert "You are a software engineer" not in prompt


def test_swe_summaries_read_both_action_formats():
    native = Rollout(id="n", task_id="t", output="DIFF", metadata={"stop": "steps", "limit": "steps"}, trajectory=[
        {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "type": "function", "function": {
            "name": "run", "arguments": '{"command": "python3 -m pytest -q"}'}}]},
        {"role": "tool", "tool_call_id": "1", "name": "run", "content": "FAILED t.py::test_x - E\n1 failed"},
        {"role": "assistant", "content": '```edit\n{"path": "a.py", "search": "x", "replace": "y"}\n```'},
        {"role": "user", "name": "edit", "content": "Error: edit not applied: the search text was not found in a.py"},
    ])  # fmt: skip
    s = swe_summary(native)
    assert s.hypotheses == ["run `python3 -m pytest -q`", "edit a.py"] and s.final == "DIFF"
    assert "stopped by steps without submitting" in s.progress and "last run:" in s.progress
    assert any("FAILED t.py::test_x" in f for f in s.failure_modes)
    assert any("edit not applied" in f for f in s.failure_modes)


def test_the_workflow_options_choose_the_selection():
    from agentscale.testing import FakeSandboxProvider

    workflow = registry.create("workflows", "swe")
    model, pool = FakeModel([]), FakeSandboxProvider()
    assert workflow.build(WorkflowEnv(model=model, sandboxes=pool)).selector == "best_score"  # the default stays
    parts = workflow.build(WorkflowEnv(model=model, sandboxes=pool, options={"selection": "repro", "repro_tests": 5}))
    assert isinstance(parts.selector, PatchSelector) and parts.selector.writer.count == 5
    assert parts.selector.judge is None and parts.selector.name == "swe_repro"
    judged = workflow.build(WorkflowEnv(model=model, sandboxes=pool, options={"judge": True})).selector
    assert judged.writer is None and isinstance(judged.judge, RecursiveTournament) and judged.name == "swe_judge"
    with pytest.raises(ConfigError, match="selection"):
        workflow.build(WorkflowEnv(model=model, sandboxes=pool, options={"selection": "vibes"}))
    with pytest.raises(ConfigError, match="tests must be"):
        registry.create("selectors", "swe_repro", model=model, sandboxes=pool, tests=-1)
