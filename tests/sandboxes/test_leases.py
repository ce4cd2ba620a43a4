"""Nothing one lease leaves reaches the next, on both real backends (the conformance suite's
between-leases checks, on a pool of one so every lease gets the same sandbox back)."""

from __future__ import annotations

import pytest

from agentscale.sandboxes import SandboxPool, make_backend
from agentscale.testing.sandbox_conformance import LEASE_CHECKS


@pytest.fixture
async def pool_of_one(request, backend_name, limits):
    request.getfixturevalue(f"{backend_name}_ready")
    async with SandboxPool(make_backend(backend_name, limits=limits), size=1) as pool:
        yield pool


@pytest.mark.parametrize("check", sorted(LEASE_CHECKS))
async def test_nothing_reaches_the_next_lease(pool_of_one, check):
    first = None
    async with pool_of_one.lease() as sb:
        first = sb
    await LEASE_CHECKS[check](pool_of_one)
    async with pool_of_one.lease() as sb:
        assert sb is first, "the pool replaced its sandbox: the check saw two different sandboxes"
