"""Command lines and settings of the two server kinds (vLLM has no GPU here: its command is what we
can check; its lifecycle is the same ManagedServer code the llama.cpp tests run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentscale.errors import ConfigError, ServerError
from agentscale.servers import LlamaCppServer, ManagedServer, VLLMServer


def _flags(argv: list[str]) -> dict[str, str]:
    return {a: b for a, b in zip(argv, argv[1:], strict=False) if a.startswith("--")}


def test_vllm_command_has_prefix_caching_and_the_users_flags():
    srv = VLLMServer(
        "Qwen/Qwen2.5-Coder-7B-Instruct",
        tensor_parallel_size=4,
        gpu_memory_utilization=0.8,
        max_num_seqs=256,
        served_model_name="coder",
        max_model_len=32768,
        extra_args=("--seed", "7"),
    )
    argv = srv.command(9000)
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-Coder-7B-Instruct"]
    assert "--enable-prefix-caching" in argv
    assert _flags(argv) | {"--enable-prefix-caching": "x"} == {
        "--host": "127.0.0.1",
        "--port": "9000",
        "--enable-prefix-caching": "x",
        "--tensor-parallel-size": "4",
        "--gpu-memory-utilization": "0.8",
        "--served-model-name": "coder",
        "--max-num-seqs": "256",
        "--max-model-len": "32768",
        "--seed": "7",
    }
    assert srv.model == "hosted_vllm/coder" and srv.profile == "chat"
    assert srv.startup_timeout >= 600  # loading weights on a GPU takes minutes


def test_vllm_tool_calling_flags():
    argv = VLLMServer("Qwen/Qwen2.5-Coder-7B-Instruct", tool_call_parser="hermes").command(9000)
    at = argv.index("--enable-auto-tool-choice")
    assert argv[at + 1 : at + 3] == ["--tool-call-parser", "hermes"]
    assert VLLMServer("m", tool_call_parser="hermes").identity() != VLLMServer("m").identity()
    for bad in ("", "hermes; rm -rf /", "two words"):
        with pytest.raises(ConfigError, match="tool_call_parser"):
            VLLMServer("m", tool_call_parser=bad)


def test_llamacpp_renders_chats_with_jinja_for_tool_calls(tmp_path):
    srv = LlamaCppServer(binary=Path("/opt/llama-server"), model_path=tmp_path / "m.gguf")
    assert "--jinja" in srv.command(8080)


def test_managed_servers_give_endpoints_that_know_them(tmp_path):
    srv = LlamaCppServer(parallel=4, cache_dir=tmp_path)
    endpoint = srv.endpoint()
    assert endpoint.server is srv and endpoint.max_concurrency == 4 and endpoint.restarts == 0
    assert VLLMServer("m", max_num_seqs=64).endpoint().max_concurrency == 64
    assert VLLMServer("m").endpoint(max_concurrency=3).max_concurrency == 3


def test_vllm_defaults_leave_optional_flags_to_vllm():
    srv = VLLMServer("some/model", profile="completion")
    argv = srv.command(8000)
    assert "--max-num-seqs" not in argv and "--max-model-len" not in argv
    assert "--enable-auto-tool-choice" not in argv
    assert _flags(argv)["--served-model-name"] == "some/model"
    assert srv.model == "hosted_vllm/some/model" and srv.profile == "completion"


def test_vllm_identity_ignores_the_port_but_not_the_settings():
    a, b = VLLMServer("m", max_num_seqs=8), VLLMServer("m", max_num_seqs=16)
    assert a.identity() == VLLMServer("m", max_num_seqs=8, port=1234).identity()
    assert a.identity() != b.identity()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tensor_parallel_size": 0},
        {"gpu_memory_utilization": 0},
        {"gpu_memory_utilization": 1.5},
        {"max_num_seqs": 0},
        {"max_model_len": -1},
    ],
)
def test_vllm_rejects_bad_settings(kwargs):
    with pytest.raises(ConfigError):
        VLLMServer("m", **kwargs)


async def test_vllm_without_vllm_installed_is_a_clear_error(tmp_path):
    srv = VLLMServer("m", executable="vllm-not-installed-here", cache_dir=tmp_path)
    with pytest.raises(ServerError, match="vllm-not-installed-here.*not found"):
        await srv.start()


def test_llamacpp_command(tmp_path):
    srv = LlamaCppServer(
        parallel=4, ctx_size=8192, threads=3, binary=Path("/opt/llama-server"), model_path=tmp_path / "m.gguf"
    )
    argv = srv.command(8080)
    assert argv[0] == "/opt/llama-server"
    flags = _flags(argv)
    assert flags["--port"] == "8080" and flags["--host"] == "127.0.0.1"
    assert flags["--parallel"] == "4" and flags["--ctx-size"] == "8192" and flags["--threads"] == "3"
    assert flags["--alias"] == "qwen2.5-coder-0.5b"
    assert "--metrics" in argv  # the tests and benchmarks read its counters
    assert argv[argv.index("-m") + 1] == str(tmp_path / "m.gguf")
    assert srv.model == "hosted_vllm/qwen2.5-coder-0.5b"


def test_llamacpp_profiles_come_from_the_catalogue():
    assert LlamaCppServer("gemma3-270m").profile == "completion"
    assert LlamaCppServer("qwen2.5-coder-1.5b").profile == "chat"
    assert LlamaCppServer("gemma3-270m", profile="chat").profile == "chat"


def test_llamacpp_rejects_bad_settings():
    with pytest.raises(ConfigError, match="known: .*qwen2.5-coder-0.5b"):
        LlamaCppServer("llama-70b")
    with pytest.raises(ConfigError):
        LlamaCppServer(parallel=0)
    with pytest.raises(ConfigError):
        LlamaCppServer(parallel=8, ctx_size=1024)  # 128 tokens a slot
    with pytest.raises(ConfigError, match="prepare"):
        LlamaCppServer().command(1)


def test_llamacpp_identity_separates_different_servers(tmp_path):
    base = LlamaCppServer(threads=2, cache_dir=tmp_path)
    assert base._record_path() == LlamaCppServer(threads=2, cache_dir=tmp_path, port=9)._record_path()
    for other in (
        LlamaCppServer("qwen2.5-coder-1.5b", threads=2, cache_dir=tmp_path),
        LlamaCppServer(parallel=4, threads=2, cache_dir=tmp_path),
        LlamaCppServer(ctx_size=8192, threads=2, cache_dir=tmp_path),
        LlamaCppServer(threads=1, cache_dir=tmp_path),
    ):
        assert other._record_path() != base._record_path()


def test_an_unstarted_server_has_no_address():
    with pytest.raises(ServerError, match="not started"):
        _ = LlamaCppServer().api_base
    assert isinstance(LlamaCppServer(), ManagedServer)
