"""Server presets: named model/slots/context settings, and ``serve llamacpp --preset``."""

from __future__ import annotations

import argparse

import pytest

from agentscale.cli.serve import add_cache_option, add_llamacpp_options, llamacpp_from_args
from agentscale.errors import ConfigError
from agentscale.servers import MODELS, PRESETS, get_preset


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_llamacpp_options(parser)
    add_cache_option(parser)
    return parser.parse_args(list(argv))


def test_every_preset_serves_a_catalogue_model_with_room_per_slot():
    for preset in PRESETS.values():
        assert preset.model in MODELS and preset.slot_tokens >= 2048
    assert PRESETS["agent"].model == "qwen2.5-coder-1.5b" and PRESETS["agent"].slot_tokens == 8192
    with pytest.raises(ConfigError, match="agent-small"):
        get_preset("nope")


def test_a_preset_fills_the_options_not_given_and_given_ones_win():
    server = llamacpp_from_args(_args("--preset", "agent"))
    assert (server.model_name, server.parallel, server.ctx_size) == ("qwen2.5-coder-1.5b", 4, 32768)
    server = llamacpp_from_args(_args("--preset", "agent", "--parallel", "2"))
    assert (server.parallel, server.ctx_size) == (2, 32768)
    server = llamacpp_from_args(_args())
    assert (server.parallel, server.ctx_size) == (8, 16384)
