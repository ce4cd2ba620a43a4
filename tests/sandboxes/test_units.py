"""Unit tests needing no Docker engine or bubblewrap: validation, output caps, backend choice, pool logic."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import warnings

import pytest

from agentscale.errors import ConfigError, SandboxError, SandboxUnavailable
from agentscale.protocols import Sandbox, SandboxProvider
from agentscale.sandboxes import (
    BwrapSandbox,
    DockerSandbox,
    EnforcedLimits,
    SandboxLimits,
    SandboxPool,
    UnenforcedLimitsWarning,
    UnsafeLocalBackend,
    UnsafeLocalSandbox,
    _cgroup,
    make_backend,
    open_pool,
)
from agentscale.sandboxes._bwrap_args import Mounts, bwrap_command, prlimit_command
from agentscale.sandboxes._cgroup import find_cgroup_parent, v2_parent
from agentscale.sandboxes._factory import _warn_unenforced
from agentscale.sandboxes._files import (
    check_relpath,
    entries_from_archive,
    entries_from_files,
    read_host_file,
    write_host_entries,
)
from agentscale.sandboxes._output import CappedBuffer
from agentscale.sandboxes._owner import Owner

pytestmark = pytest.mark.filterwarnings("ignore:agentscale. the 'unsafe-local':RuntimeWarning")


def test_relpath_rules():
    assert check_relpath("a/./b//c.py") == "a/b/c.py"
    for bad in ("", "/abs", "../x", "a/../../x", "a/..", ".", "a\x00b"):
        with pytest.raises(ConfigError):
            check_relpath(bad)


def test_files_must_be_text_or_bytes():
    with pytest.raises(ConfigError, match="content must be str or bytes"):
        entries_from_files({"a.py": 3})  # type: ignore[dict-item]
    (entry,) = entries_from_files({"run.sh": "#!/bin/sh\necho hi\n"})
    assert entry.mode == 0o755


def _tar(*members: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(data) if m.isreg() else None)
    return buf.getvalue()


def test_archive_refuses_escapes_and_special_files():
    def info(name, kind=tarfile.REGTYPE, link=""):
        t = tarfile.TarInfo(name)
        t.type, t.linkname = kind, link
        return t

    assert [e.path for e in entries_from_archive(_tar(info("./a/b.txt")))] == ["a/b.txt"]
    for bad in (
        info("../x"), info("/x"), info("l", tarfile.SYMTYPE, "/etc"), info("d/l", tarfile.SYMTYPE, "../../x"),
        info("h", tarfile.LNKTYPE, "a"), info("f", tarfile.FIFOTYPE), info("c", tarfile.CHRTYPE),
    ):
        with pytest.raises(ConfigError):
            entries_from_archive(_tar(bad))
    with pytest.raises(ConfigError, match="not a readable tar"):
        entries_from_archive(b"not a tar at all" * 100)
    setuid = info("s")
    setuid.mode = 0o4755
    assert entries_from_archive(_tar(setuid))[0].mode == 0o755


def test_host_writes_never_follow_symlinks(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("original")
    work = tmp_path / "work"
    work.mkdir()
    (work / "link").symlink_to(outside)
    (work / "dirlink").symlink_to(tmp_path)
    write_host_entries(str(work), entries_from_files({"link": "replaced"}), uid=None, gid=None)
    assert outside.read_text() == "original" and (work / "link").read_text() == "replaced"
    with pytest.raises(SandboxError):
        write_host_entries(str(work), entries_from_files({"dirlink/outside.txt": "x"}), uid=None, gid=None)
    assert outside.read_text() == "original"
    assert read_host_file(str(work), "dirlink/outside.txt") is None
    assert read_host_file(str(work), "link") == b"replaced"


def test_capped_buffer():
    buf = CappedBuffer(5)
    for chunk in (b"ab", b"cd\xff", b"ef"):
        buf.write(chunk)
    assert buf.getvalue() == b"abcd\xff" and buf.truncated and buf.dropped == 2
    assert buf.text() == "abcd\ufffd"


def test_owner_tags_and_liveness():
    me = Owner.me()
    assert Owner.from_tag(me.tag, me.host) == me and not me.is_gone()
    assert Owner.from_tag("999999999-1", me.host).is_gone()
    assert not Owner.from_tag("999999999-1", "another-host").is_gone()  # never judge another host's
    assert Owner.from_tag("garbage", me.host) is None


def test_limits_are_validated():
    with pytest.raises(ValueError):
        SandboxLimits(timeout=0)
    with pytest.raises(ValueError):
        SandboxLimits(memory_mb=1)


def test_make_backend_rejects_unknown_names_and_options():
    with pytest.raises(ConfigError, match="auto, docker, bwrap, unsafe-local"):
        make_backend("podman")
    with pytest.raises(ConfigError, match="rootfs"):
        make_backend("docker", rootfs="host")
    with pytest.raises(ConfigError):
        make_backend("auto", colour="blue")
    with pytest.raises(ConfigError):
        open_pool(size=0)


def test_backend_classes_implement_the_protocols():
    for cls in (DockerSandbox, BwrapSandbox, UnsafeLocalSandbox):
        assert all(hasattr(cls, m) for m in ("run", "read_files", "__aenter__", "__aexit__"))
    assert isinstance(SandboxPool(UnsafeLocalBackend()), SandboxProvider)


async def test_auto_says_how_to_get_a_backend(monkeypatch):
    import shutil

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name))
    with pytest.raises(SandboxUnavailable) as info:
        await make_backend("auto").start()
    message = str(info.value)
    assert "scripts/docker-engine.sh" in message and "bubblewrap" in message


async def test_unsafe_local_is_loud_and_only_by_name():
    with pytest.warns(RuntimeWarning, match="WITHOUT ISOLATION"):
        async with make_backend("unsafe-local") as backend:
            async with await backend.create() as sb:
                assert isinstance(sb, Sandbox)
                assert (await sb.run("echo hi")).stdout == "hi\n"


# --- pool logic, on the (real, fast) unsafe-local backend ---


async def test_pool_lease_reset_and_close():
    async with SandboxPool(UnsafeLocalBackend(), size=2) as pool:
        async with pool.lease() as sb:
            await sb.run("echo x > f")
            workdir = sb.host_dir
        await asyncio.sleep(0.2)
        async with pool.lease() as a, pool.lease() as b:
            for s in (a, b):
                assert (await s.run("ls -A | wc -l")).stdout.strip() == "0"
    assert not os.path.exists(workdir)
    with pytest.raises(SandboxError, match="not open"):
        async with pool.lease():
            pass


async def test_pool_replaces_broken_sandboxes_and_reports_failed_creation():
    backend = UnsafeLocalBackend()
    async with SandboxPool(backend, size=1) as pool:
        async with pool.lease() as sb:
            sb.broken = "simulated crash"
        async with pool.lease() as sb2:
            assert sb2 is not sb and pool.replaced == 1

        async def fail():
            raise OSError("no more sandboxes")

        backend.create = fail  # type: ignore[method-assign]
        async with pool.lease() as sb3:
            sb3.broken = "crash again"
        with pytest.raises(SandboxError, match="replacement"):
            async with pool.lease():
                pass


async def test_pool_cleans_up_when_cancelled():
    backend = UnsafeLocalBackend()
    pool = SandboxPool(backend, size=2)
    dirs: list[str] = []

    async def user():
        async with pool:
            async with pool.lease() as sb:
                dirs.append(sb.host_dir)
                await sb.run("sleep 30", timeout=60)

    task = asyncio.ensure_future(user())
    while not dirs:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not os.path.exists(dirs[0]) and backend._open == set()


async def test_run_argument_checks():
    async with make_backend("unsafe-local") as backend, await backend.create() as sb:
        for bad in ("", "   ", [], ["ok", 3], ["a\x00"]):
            with pytest.raises(ConfigError):
                await sb.run(bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            await sb.run("true", timeout=0)


async def test_closing_the_pool_wakes_waiting_leases():
    pool = SandboxPool(UnsafeLocalBackend(), size=1)
    await pool.start()
    async with pool.lease():
        waiter = asyncio.ensure_future(pool.lease().__aenter__())
        await asyncio.sleep(0.05)
        await pool.aclose()
        with pytest.raises(SandboxError, match="closed"):
            await asyncio.wait_for(waiter, 5)


# --- what backends report they enforce, and where cgroups come from ---


def test_enforced_limits_report():
    report = EnforcedLimits(memory_mb="cgroup v2", pids=None, syscall_filter="seccomp")
    assert report.missing(["memory_mb", "pids"]) == ["pids"]
    assert "timeout" in report.missing() and "memory_mb" not in report.missing()
    assert "pids: NOT ENFORCED" in str(report)
    # every limit a user can set has a line in the report
    assert set(SandboxLimits.model_fields) <= set(EnforcedLimits.model_fields)


def test_auto_warns_when_memory_or_processes_are_not_limited():
    class Weak:
        name = "weak"
        cgroups = "no usable cgroups"

        def enforced_limits(self):
            return EnforcedLimits(pids="RLIMIT_NPROC")

    with pytest.warns(UnenforcedLimitsWarning, match="cannot enforce memory_mb here"):
        _warn_unenforced(Weak())
    Weak.enforced_limits = lambda self: EnforcedLimits(memory_mb="cgroup v1", pids="cgroup v1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_unenforced(Weak())


def _fake_v2_dir(path, controllers="memory pids", enabled="memory pids"):
    path.mkdir()
    files = {"cgroup.controllers": controllers, "cgroup.subtree_control": enabled, "cgroup.procs": ""}
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_v2_parent_writes_each_limit_its_controllers_allow(tmp_path):
    # a plain directory laid out like a delegated cgroup v2 subtree (the real kernel path is tested
    # in test_bwrap_hosts.py on a mounted cgroup2)
    parent = v2_parent(_fake_v2_dir(tmp_path / "mine"))
    assert parent.memory and parent.pids and parent.how == "cgroup v2"
    group = parent.make("agentscale-1-2-x-0", memory_bytes=256 << 20, pids=64)
    leaf = tmp_path / "mine" / "agentscale-1-2-x-0"
    assert group.dirs == [leaf] and group.v2
    assert (leaf / "memory.max").read_text() == str(256 << 20) and (leaf / "pids.max").read_text() == "64"
    assert parent.leaves() == [leaf]
    only_pids = v2_parent(_fake_v2_dir(tmp_path / "other", controllers="pids", enabled="pids"))
    assert only_pids.pids and not only_pids.memory
    only_pids.make("agentscale-1-2-y-0", memory_bytes=1, pids=8)
    assert not (tmp_path / "other" / "agentscale-1-2-y-0" / "memory.max").exists()


def test_cgroup_parent_must_be_a_cgroup2_directory(tmp_path):
    with pytest.raises(OSError, match="not a cgroup v2 directory"):
        find_cgroup_parent(tmp_path)


def test_no_cgroups_says_why(monkeypatch):
    monkeypatch.setattr(_cgroup, "_mounts", lambda: ({}, None))
    parent, why = find_cgroup_parent()
    assert parent is None and "no usable cgroups" in why


def test_bwrap_command_keeps_dev_read_only_and_passes_its_fds():
    lim = SandboxLimits(tmp_mb=16)
    cmd, fds = bwrap_command(lim, Mounts(host_usr=False, root_fd=5), work_fd=4, status_fd=6, block_fd=7, seccomp_fd=8)
    text = " ".join(cmd)
    assert "--tmpfs /dev/shm --remount-ro /dev" in text and f"--size {16 << 20} --tmpfs /dev/shm" in text
    assert "--seccomp 8" in text and "--block-fd 7" in text and "--json-status-fd 6" in text
    assert "--share-net" not in cmd and "--disable-userns" in cmd and fds == [4, 5, 6, 7, 8]
    prlimit = prlimit_command(lim, memory_cgroup=False, own_uid=False)
    assert f"--as={lim.memory_mb << 20}" in prlimit and not any(a.startswith("--nproc") for a in prlimit)
    assert f"--nproc={lim.pids}" in prlimit_command(lim, memory_cgroup=True, own_uid=True)
