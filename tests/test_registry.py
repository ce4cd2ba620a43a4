"""Name lookup: built-ins and entry-point plugins through one path, clear errors otherwise."""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from agentscale import registry
from agentscale.errors import ConfigError
from agentscale.protocols import Selector, Strategy, Verifier
from agentscale.testing import FakeModel


@pytest.mark.parametrize("group", registry.GROUPS)
def test_every_builtin_loads(group):
    for name in registry.BUILTINS[group]:
        assert registry.load(group, name) is not None


def test_builtins_satisfy_their_protocols():
    from agentscale.testing import FakeSandboxProvider
    from agentscale.verifiers.generated_inputs import ModelInputs

    model, pool = FakeModel(["1"]), FakeSandboxProvider()
    needs = {
        "listwise": {"model": model},
        "tournament": {"model": model},
        "synthesize": {"model": model},
        "code_judge": {"model": model},
        "rtv": {"model": model},
        "behaviour_cluster": {"sandboxes": pool},
        "dual_agreement": {"sandboxes": pool, "writer": ModelInputs(model)},
        "code": {"sandboxes": pool},
        "swe_repro": {"model": model, "sandboxes": pool},
    }
    for name in registry.BUILTINS["selectors"]:
        selector = registry.create("selectors", name, **needs.get(name, {}))
        assert isinstance(selector, Selector), name
    for name in ("answer", "llm_judge", "code"):
        kwargs = {"model": model} if name == "llm_judge" else {"sandboxes": pool} if name == "code" else {}
        assert isinstance(registry.create("verifiers", name, **kwargs), Verifier)


def test_builtin_strategies_satisfy_their_protocol():
    for name in registry.BUILTINS["strategies"]:
        strategy = registry.create("strategies", name)
        assert isinstance(strategy, Strategy) and strategy.name == name


def test_builtin_names_are_recorded_on_instances():
    assert registry.create("selectors", "majority").name == "majority"
    assert registry.create("verifiers", "answer").name == "answer"


def test_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown selector 'nope'; choose one of: majority, weighted_vote"):
        registry.load("selectors", "nope")


def test_unknown_group():
    with pytest.raises(ConfigError, match="unknown registry group 'models'"):
        registry.available("models")


def test_bad_arguments_show_the_signature():
    with pytest.raises(ConfigError, match=r"selector 'listwise' takes listwise\(model"):
        registry.create("selectors", "listwise")
    with pytest.raises(ConfigError, match="selector 'majority' takes no option 'colour'"):
        registry.create("selectors", "majority", colour="red")
    with pytest.raises(ConfigError, match=r"strategy 'best_of_n' takes no option 'polcy'; it takes best_of_n\(n"):
        registry.create("strategies", "best_of_n", polcy=None)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin package on sys.path, announced through the selectors entry-point group."""
    (tmp_path / "my_plugin.py").write_text(
        textwrap.dedent(
            """
            from agentscale.types import Selection

            class FirstOne:
                name = "first"

                async def select(self, task, rollouts, verdicts):
                    return Selection(rollout_id=rollouts[0].id if rollouts else None, reason="first")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        EntryPoint("first", "my_plugin:FirstOne", "agentscale.selectors"),
        EntryPoint("majority", "my_plugin:FirstOne", "agentscale.selectors"),  # may not shadow a built-in
        EntryPoint("broken", "my_plugin:Missing", "agentscale.selectors"),
    ]

    def fake_entry_points(*, group):
        return [ep for ep in eps if ep.group == group]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    yield
    sys.modules.pop("my_plugin", None)


def test_plugins_are_merged_after_builtins(plugin):
    names = list(registry.available("selectors"))
    assert names[: len(registry.BUILTINS["selectors"])] == list(registry.BUILTINS["selectors"])
    assert names[-2:] == ["broken", "first"]
    assert registry.available("selectors")["majority"] == registry.BUILTINS["selectors"]["majority"]
    assert isinstance(registry.create("selectors", "first"), Selector)
    assert registry.create("selectors", "majority").name == "majority"


def test_a_plugin_that_does_not_load_is_a_config_error(plugin):
    with pytest.raises(ConfigError, match="'broken' points to 'my_plugin:Missing', which cannot be loaded"):
        registry.load("selectors", "broken")


def test_lookup_imports_lazily():
    import subprocess

    code = (
        "import sys; from agentscale import registry; registry.available('selectors'); "
        "print('agentscale.selectors.listwise' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
