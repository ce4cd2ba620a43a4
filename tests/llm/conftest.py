"""Fixtures for the model layer: a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest
from scripted_server import scripted_server

from agentscale.llm import LLM


@pytest.fixture
async def server():
    async with scripted_server() as srv:
        yield srv


@pytest.fixture
async def make_llm(server):
    """An LLM on the scripted server with fast retries; options override."""
    made: list[LLM] = []

    def make(**options) -> LLM:
        options = {
            "api_base": server.api_base,
            "timeout": 5.0,
            "retry_initial_wait": 0.01,
            "retry_max_wait": 0.05,
            **options,
        }
        llm = LLM(options.pop("model", "hosted_vllm/test-model"), **options)
        made.append(llm)
        return llm

    yield make
    for llm in made:
        await llm.aclose()
