"""``agentscale run``: one task and batches through the CLI's own entry point, against a real HTTP model
server (the scripted one of ``tests/llm``), and every bad input as one clear line and a non-zero exit."""

from __future__ import annotations

import json

import pytest

from agentscale.cli import build_parser, main


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")


def test_one_task_prints_the_answer_and_a_summary(scripted, model_args, capsys):
    assert main(["run", "chat", "What is 2+2?", "--strategy", "vote", "-n", "3", *model_args]) == 0
    out = capsys.readouterr().out
    assert "hello world" in out  # the answer
    assert "choice: #0 (chosen): majority: 3 of 3 votes for 'hello world'" in out
    assert "tokens: 27 (21 prompt + 6 generated, 3 calls" in out
    assert out.count("│ ok ") == 3  # three candidates
    bodies = [r.body for r in scripted.requests]
    assert len(bodies) == 3 and sorted(b["seed"] for b in bodies) == [0, 1, 2]
    assert bodies[0]["messages"][-1] == {"role": "user", "content": "What is 2+2?"}


def test_json_record_has_full_provenance(scripted, model_args, capsys):
    args = ["run", "chat", '{"prompt": "Say hello world", "expected": "hello world"}', "-n", "2", "--json"]
    # a JSON record as the task: the chat workflow reads its prompt and expected answer
    assert main([*args, "-c", "max_tokens=32", *model_args]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["workflow"] == "chat" and record["strategy"] == "best_of_n" and record["n"] == 2
    assert record["model"] == "hosted_vllm/test-model" and record["options"] == {"max_tokens": 32}
    assert record["status"] == "chosen" and record["score"]["passed"] is True  # scored, never selected by it
    assert [r["seed"] for r in record["rollouts"]] == [0, 1]
    assert all(r["usage"]["calls"] == 1 and r["output"] == "hello world" for r in record["rollouts"])
    assert record["usage"]["calls"] == 2
    assert {r.body["max_tokens"] for r in scripted.requests} == {32}


def test_a_listwise_selector_is_counted_in_the_usage(scripted, model_args, capsys):
    assert main(["run", "chat", "Pick one", "-n", "2", "--selector", "listwise", "--json", *model_args]) == 0
    record = json.loads(capsys.readouterr().out)
    # two rollouts and the selector's own call(s): every inner call is in the task's usage
    assert record["usage"]["calls"] == len(scripted.requests) >= 3
    assert record["selector"] == "listwise"


def test_every_rollout_failing_is_one_line_and_exit_1(scripted, model_args, capsys):
    scripted.server.default = 400
    assert main(["run", "chat", "hi", "-n", "2", *model_args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("agentscale: error: no answer:") and "400" in err[-1]
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nosuch", "x"], "unknown workflow 'nosuch'; choose one of: humaneval, web"),
        (["run", "chat", "x", "--strategy", "nope"], "unknown strategy 'nope'; choose one of: best_of_n, majority"),
        (["run", "chat", "x", "--selector", "nope"], "unknown selector 'nope'; choose one of: majority"),
        (["run", "chat", "x", "-n", "0"], "-n must be >= 1, got 0"),
        (["run", "chat", "x", "-c", "judge=maybe"], "bad chat options: judge"),
        (["run", "chat", "x", "-c", "nonsense"], "-c 'nonsense': expected KEY=VALUE"),
        (["run", "chat"], "give one task"),
        (["run", "chat", "x", "--tasks", "t.jsonl"], "give one task"),
        (["run", "chat", "--tasks", "/nonexistent/t.jsonl"], "no tasks file /nonexistent/t.jsonl"),
        (["run", "chat", "x", "--model", "hosted_vllm/m", "--api-base", "http://127.0.0.1:9/v1"],
         "cannot reach the model endpoint http://127.0.0.1:9/v1"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_clear_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("agentscale: error: ") and message in err[0], err


def test_debug_shows_the_traceback(capsys):
    assert main(["run", "nosuch", "x", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "agentscale: error: unknown workflow" in err


def test_a_batch_writes_one_line_per_task_and_reports_bad_lines(scripted, model_args, tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    lines = [
        '"What is 2+2?"',
        '{"id": "q2", "prompt": "Say hello", "expected": "hello world"}',
        "not json",
        '{"foo": 1}',
        '{"prompt": "Say bye", "expected": "bye"}',
    ]
    tasks.write_text("\n".join(lines) + "\n")
    out = tmp_path / "results.jsonl"
    argv = ["run", "chat", "--tasks", str(tasks), "--out", str(out), "-n", "2", "--workers", "2", *model_args]
    assert main(argv) == 1  # bad lines make the exit non-zero; the good tasks still ran
    captured = capsys.readouterr()
    assert f"{tasks}:3: not JSON" in captured.err and f"{tasks}:4: a chat record needs 'prompt'" in captured.err
    assert "bad line 3" in captured.out and "bad line 4" in captured.out  # and in the closing table
    assert "pass rate          │ 1/2 (50%)" in captured.out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["task_id"] for r in records)[0] == "q2" and len(records) == 3
    assert len(scripted.requests) == 6
    # again: nothing is redone
    assert main(argv) == 1
    assert "0 run now, 3 from an earlier run" in capsys.readouterr().out
    assert len(scripted.requests) == 6 and len(out.read_text().splitlines()) == 3


def test_a_batch_made_another_way_is_not_mixed_in(scripted, model_args, tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('"one"\n')
    out = tmp_path / "r.jsonl"
    assert main(["run", "chat", "--tasks", str(tasks), "--out", str(out), "-n", "2", *model_args]) == 0
    assert main(["run", "chat", "--tasks", str(tasks), "--out", str(out), "-n", "3", *model_args]) == 1
    assert "made differently (n=2, this run n=3); give another --out" in capsys.readouterr().err


def test_every_command_shows_examples_in_its_help(capsys):
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"run", "chat", "serve-strategy", "setup", "serve", "demo", "memory"} <= set(commands)
    for name in sorted(set(commands) - {"swe"}):  # swe's help is its own module's
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        assert "examples:" in capsys.readouterr().out, name
