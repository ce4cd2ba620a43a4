"""``agentscale run`` and ``serve-strategy`` on the real embedded model (llama.cpp): the machinery end
to end, never whether the model is right."""

from __future__ import annotations

import json
import shutil

import openai
import pytest

from agentscale.cli import main

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(1800)]


def test_run_chat_on_the_real_model(llama_server, capsys):
    argv = ["run", "chat", "Name one primary colour.", "--strategy", "vote", "-n", "2", "-c", "max_tokens=24",
            "--model", llama_server.model, "--api-base", llama_server.api_base, "--json"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "chosen" and record["answer"].strip()
    assert [r["status"] for r in record["rollouts"]] == ["ok", "ok"]
    assert all(0 < r["usage"]["completion_tokens"] <= 24 for r in record["rollouts"])
    assert record["usage"]["calls"] == 2 and record["reason"].startswith("majority")


async def test_serve_strategy_with_the_openai_client_on_the_real_model(llama_server):
    from agentscale.llm import LLM
    from agentscale.serve_strategy import StrategyServer

    async with LLM(llama_server.model, api_base=llama_server.api_base, timeout=600) as llm:
        async with StrategyServer(llm, strategy="majority", n=2) as server:
            client = openai.AsyncOpenAI(base_url=await server.start(), api_key="-", max_retries=0, timeout=900)
            messages = [{"role": "user", "content": "Reply with the single word: yes."}]
            reply = await client.chat.completions.create(model=server.name, messages=messages, max_tokens=8)
            assert reply.choices[0].message.content.strip() and reply.usage.completion_tokens > 0
            assert reply.model_extra["agentscale"]["rollouts"] == 2
            stream = await client.chat.completions.create(
                model=f"best_of_n-2/{server.name}", messages=messages, max_tokens=8, stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text.strip()
            await client.close()


@pytest.mark.skipif(not (shutil.which("docker") or shutil.which("bwrap")), reason="no sandbox backend")
def test_a_humaneval_batch_on_the_real_model_and_a_real_sandbox(llama_server, tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('"2"\n"HumanEval/nope"\n')
    out = tmp_path / "results.jsonl"
    argv = ["run", "humaneval", "--tasks", str(tasks), "--out", str(out), "-n", "2", "-c", "max_tokens=200",
            "--model", llama_server.model, "--api-base", llama_server.api_base]  # fmt: skip
    assert main(argv) == 1  # the bad line makes the exit non-zero; the good task ran
    captured = capsys.readouterr()
    assert f"{tasks}:2: a humaneval task is a problem number" in captured.err
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["task_id"] == "HumanEval/2" and record["workflow"] == "humaneval"
    assert record["status"] in ("chosen", "none_passed") and len(record["rollouts"]) == 2
    assert all(r["verdict"] is not None for r in record["rollouts"])  # the docstring examples ran in a sandbox
    assert record["score"] is not None  # the hidden tests scored the choice
    assert "pass rate" in captured.out and "bad line 2" in captured.out
