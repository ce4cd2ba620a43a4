"""The reusable conformance checks, run against both real backends (and the unsafe-local one)."""

from __future__ import annotations

import pytest

from agentscale.sandboxes import make_backend
from agentscale.testing.sandbox_conformance import CHECKS


@pytest.mark.parametrize("check", sorted(CHECKS))
async def test_conformance(sandbox, check):
    await CHECKS[check](sandbox)
    assert (await sandbox.run("echo still-usable")).stdout == "still-usable\n"


@pytest.mark.parametrize("check", sorted(set(CHECKS) - {"bad_file_names"}))
async def test_conformance_unsafe_local(check, limits):
    # unsafe-local is no security boundary, but it keeps the same contract
    with pytest.warns(RuntimeWarning, match="WITHOUT ISOLATION"):
        backend = make_backend("unsafe-local", limits=limits)
        await backend.start()
    try:
        async with await backend.create() as sb:
            await CHECKS[check](sb)
    finally:
        await backend.aclose()
