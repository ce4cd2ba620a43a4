"""Profiles, options and the import boundary of the model layer (no server needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentscale import ConfigError
from agentscale.llm import LLM, Endpoint, LLMConfig, ModelProfile


def test_profiles_are_explicit():
    assert ModelProfile.of("chat").kind == "chat"
    assert ModelProfile.of("completion").kind == "completion"
    custom = ModelProfile.of(
        {"kind": "completion", "roles": {"user": "Q", "assistant": "A"}, "stop": ["\nQ:"]}
    )
    assert custom.render([{"role": "user", "content": "2+2?"}]) == "Q: 2+2?\n\nA:"
    for bad in ("instruct", "", None, 3, {"kind": "base"}):
        with pytest.raises(ConfigError):
            ModelProfile.of(bad)


def test_completion_template_renders_every_shape_of_content():
    profile = ModelProfile.of("completion")
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]},
        {"role": "assistant", "content": None},
        {"role": "user", "content": "again\n"},
    ]
    assert profile.render(messages) == (
        "System: Be terse.\n\nUser: Hello there\n\nAssistant:\n\nUser: again\n\nAssistant:"
    )
    with pytest.raises(ConfigError, match="role"):
        profile.render([{"content": "no role"}])
    with pytest.raises(ConfigError, match="'wizard'"):
        profile.render([{"role": "wizard", "content": "x"}])


def test_llm_options_are_checked():
    llm = LLM("hosted_vllm/m", api_base="http://127.0.0.1:1/v1/", profile="completion", timeout=3)
    assert llm.config.profile.kind == "completion" and llm.config.timeout == 3
    assert llm.endpoint.api_base == "http://127.0.0.1:1/v1"
    assert "api_key" not in repr(LLM("m", api_key="sk-secret").config)
    for bad in (
        {"profile": "base"},
        {"timeout": 0},
        {"max_retries": -1},
        {"temprature": 0.5},
        {"max_tokens": 0},
    ):
        with pytest.raises(ConfigError):
            LLM("hosted_vllm/m", **bad)
    with pytest.raises(ConfigError):
        Endpoint("http://x/v1", max_concurrency=0)


def test_a_config_object_round_trips():
    config = LLMConfig(model="hosted_vllm/m", profile="completion", temperature=0.7, extra_body={"top_k": 20})
    again = LLMConfig.model_validate_json(config.model_dump_json())
    assert again == config
    assert LLM(config, timeout=9).config.timeout == 9 and LLM(config).config.profile.kind == "completion"


async def test_bad_prompts_and_n_are_config_errors():
    llm = LLM("hosted_vllm/m", api_base="http://127.0.0.1:1/v1")
    for prompt in ([], ["not a dict"], 42, None):
        with pytest.raises(ConfigError):
            await llm.generate(prompt)
    for n in (0, -1, 1.5):
        with pytest.raises(ConfigError):
            await llm.generate("hi", n=n)


async def test_a_model_string_litellm_cannot_route():
    with pytest.raises(ConfigError, match="route"):
        await LLM("no-such-provider-model", api_base="http://127.0.0.1:1/v1", max_retries=0).generate("hi")


def test_importing_the_model_layer_is_light_and_offline():
    code = (
        "import sys, os, agentscale.llm\n"
        "assert 'litellm' not in sys.modules and 'openai' not in sys.modules\n"
        "from agentscale.llm import _litellm\n"
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'], _litellm.price('hosted_vllm/x', 10, 10))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "NO_PROXY": "",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True None"  # the cost map is local: a local model has no price
    assert out.stderr == ""  # no warnings about failing to fetch anything
