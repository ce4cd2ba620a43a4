"""The web workflows with the real embedded model (Qwen2.5-Coder-0.5B on llama.cpp): real pages
really fetched, a real MiniWoB++ episode in a real browser. They check the machinery (the model's
actions reach the server or the browser, the rollout records them, the verdict is computed), never
that the small model is right."""

from __future__ import annotations

import pytest

from agentscale import ScaleContext, scale
from agentscale.graphs.web import (
    BrowserPool,
    EpisodeReward,
    MiniWoBConfig,
    ObservedAnswer,
    SiteServer,
    WebAnswerScorer,
    WebConfig,
    WebLimits,
    miniwob_agent,
    miniwob_task,
    web_agent,
    web_task,
)
from agentscale.llm import LLM

pytestmark = [pytest.mark.slow, pytest.mark.llm]


@pytest.fixture
async def llm(llama_server):
    async with LLM(llama_server.model, api_base=llama_server.api_base, profile=llama_server.profile,
                   timeout=600) as client:
        yield client


async def test_the_model_browses_real_pages(llm):
    with SiteServer() as site:
        # one hop from the start page, so the 2048-token slot of the shared test server suffices
        task = web_task("How many hectares is Riverside Park?", site.url + "/parks/", "14")
        config = WebConfig(max_steps=2, reply_tokens=128, limits=WebLimits(max_chars=1200))
        graph = scale(web_agent(llm, config), "best_of_n", n=1, verifier=ObservedAnswer())
        state = await graph.ainvoke({"task": task}, context=ScaleContext())
        assert ("GET", "/parks/") in site.requests  # the start page, opened for each rollout
        for rollout in state["rollouts"]:
            assert rollout.usage.total_tokens > 0 and rollout.metadata["steps"] >= 1
            assert any(m["role"] == "assistant" for m in rollout.trajectory)
            assert rollout.metadata["visits"][0]["url"] == site.url + "/parks/"
            verdict = await WebAnswerScorer().verify(task, rollout)  # computed, right or wrong
            assert verdict.verifier == "web_answer"
        assert state["selected"].status in ("chosen", "none_passed")


@pytest.mark.browser
async def test_the_model_plays_a_miniwob_episode(llm):
    async with BrowserPool(size=1) as browsers:
        task = miniwob_task("click-test-2", seed=1)
        rollout = await miniwob_agent(llm, browsers, MiniWoBConfig(max_steps=2, reply_tokens=96))(task, None)
        assert rollout.status == "ok" and rollout.usage.total_tokens > 0
        assert "Task: Click button ONE." in rollout.trajectory[1]["content"]
        verdict = await EpisodeReward().verify(task, rollout)
        assert verdict.passed == (rollout.metadata["done"] and rollout.metadata["reward"] > 0)


async def test_a_call_with_arguments_that_are_not_json_does_not_break_the_next_request(llm):
    """llama-server refuses a whole request (HTTP 500) whose history holds a tool call with non-JSON
    arguments; the loop sends such a call back with JSON-object arguments, so the rollout goes on."""
    from agentscale.testing import FakeModel, tool_call

    class BrokenFirstCall:  # the first reply scripted (a broken call), every later one from the real model
        def __init__(self) -> None:
            self.script = FakeModel([{"content": "", "tool_calls": [tool_call("follow_link", "three")]}])
            self.real_calls = 0

        async def generate(self, prompt, **kwargs):
            if not self.script.calls:
                return await self.script.generate(prompt, **kwargs)
            self.real_calls += 1
            return await llm.generate(prompt, **kwargs)

    model = BrokenFirstCall()
    with SiteServer() as site:
        task = web_task("How many hectares is Riverside Park?", site.url + "/parks/", "14")
        config = WebConfig(actions="tools", max_steps=2, reply_tokens=64, limits=WebLimits(max_chars=1200))
        rollout = await web_agent(model, config)(task, None)
    assert "not valid JSON" in rollout.trajectory[3]["content"]  # the broken call, answered
    assert model.real_calls == 1 and rollout.status == "ok" and rollout.metadata["stop"] != "error"
