"""Checks any ``Sandbox`` must pass, for your backend's tests and ours.

Each check is ``async def check(sandbox) -> None`` and raises ``AssertionError`` when the
sandbox misbehaves; it leaves the sandbox usable. ``CHECKS`` maps names to checks, so a test
suite can parametrise over them::

    @pytest.mark.parametrize("name", sorted(CHECKS))
    async def test_conformance(my_sandbox, name):
        await CHECKS[name](my_sandbox)

The sandbox must have ``python3``, ``bash`` and ``git``, and ``git_diff``/``commit_baseline``
methods for the git check (skipped by ``run_all`` when absent). Nothing here imports pytest.

``LEASE_CHECKS`` hold a provider (anything with ``lease()``, e.g. a ``SandboxPool``) to the rule
that nothing one lease leaves reaches the next: one check per kind of state (files in the work
dir, ``/tmp``, ``/dev/shm`` and every other writable place, POSIX message queues, SysV IPC, modes
of writable directories, processes). Each plants state in one lease and looks for it in the
next; give them a provider that hands the same sandbox back (a pool of size 1), or they cannot
see a leak::

    @pytest.mark.parametrize("name", sorted(LEASE_CHECKS))
    async def test_leases(my_pool_of_one, name):
        await LEASE_CHECKS[name](my_pool_of_one)
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Awaitable, Callable
from typing import Any

from agentscale.errors import ConfigError

__all__ = ["CHECKS", "LEASE_CHECKS", "run_all", "run_lease_checks"]

Check = Callable[[Any], Awaitable[None]]
LeaseCheck = Callable[[Any], Awaitable[None]]


async def check_exit_code_and_streams(sb) -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    r = await sb.run(["python3", "-c", code])
    assert r.exit_code == 3, r
    assert r.stdout == "out\n" and r.stderr == "err\n", r
    assert not r.ok and not r.timed_out and not r.oom_killed and not r.truncated, r
    assert r.duration > 0, r


async def check_shell_string(sb) -> None:
    r = await sb.run("echo $((6*7)) | tr 4 X")
    assert r.ok and r.stdout == "X2\n", r


async def check_files_in_and_out(sb) -> None:
    payload = bytes(range(256))
    r = await sb.run(
        ["python3", "-c", "import pathlib; print(pathlib.Path('pkg/mod.py').read_text())"],
        files={"pkg/mod.py": "x = 'héllo'\n", "blob.bin": payload},
    )
    assert r.ok and "x = 'héllo'" in r.stdout, r
    await sb.run("mkdir -p out && printf made > out/result.txt")
    got = await sb.read_files(["out/result.txt", "blob.bin", "pkg/mod.py", "missing.txt"])
    want = {"out/result.txt": b"made", "blob.bin": payload, "pkg/mod.py": "x = 'héllo'\n".encode()}
    assert got == want, got


async def check_workdir_persists(sb) -> None:
    await sb.run("echo 1 > counter")
    await sb.run("echo $(( $(cat counter) + 1 )) > counter")
    r = await sb.run("cat counter")
    assert r.stdout == "2\n", r
    r = await sb.run("pwd")
    assert r.stdout.strip() == getattr(sb, "workdir", r.stdout.strip()), r


async def check_env(sb) -> None:
    script = 'echo "$GREETING"; echo "${AWS_SECRET_ACCESS_KEY:-unset}"'
    r = await sb.run(script, env={"GREETING": "hi there"})
    assert r.stdout == "hi there\nunset\n", r
    for bad in ({"1X": "y"}, {"A=B": "y"}, {"X": "a\x00b"}):
        try:
            await sb.run("true", env=bad)
        except ConfigError:
            continue
        raise AssertionError(f"bad env {bad!r} was accepted")


async def check_timeout(sb) -> None:
    r = await sb.run(["python3", "-c", "import time; print('start', flush=True); time.sleep(60)"], timeout=1)
    assert r.timed_out and not r.ok, r
    assert r.stdout == "start\n", r
    assert r.duration < 15, r
    assert (await sb.run("echo alive")).stdout == "alive\n"


async def check_output_cap(sb) -> None:
    cap = sb.limits.output_bytes
    code = f"import sys; sys.stdout.write('a' * {cap * 3}); print('E', file=sys.stderr)"
    r = await sb.run(["python3", "-c", code])
    assert r.ok and r.truncated, r.model_copy(update={"stdout": r.stdout[:20]})
    assert len(r.stdout) == cap and r.stderr == "E\n"


async def check_non_utf8(sb) -> None:
    r = await sb.run(["python3", "-c", "import sys; sys.stdout.buffer.write(b'ok\\xff\\xfe\\x00end')"])
    assert r.ok and r.stdout.startswith("ok") and r.stdout.endswith("end") and "\ufffd" in r.stdout, r


async def check_bad_file_names(sb) -> None:
    for name in ("/etc/passwd", "../escape.txt", "a/../../escape.txt", "", "a\x00b"):
        try:
            await sb.run("true", files={name: "x"})
        except ConfigError:
            continue
        raise AssertionError(f"file name {name!r} was accepted")
    try:
        await sb.read_files(["../../etc/passwd"])
    except ConfigError:
        pass
    else:
        raise AssertionError("read_files accepted '..'")


async def check_archive(sb) -> None:
    if not hasattr(sb, "put_archive"):
        return
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"print('from archive')\n"
        info = tarfile.TarInfo("proj/main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    await sb.put_archive(buf.getvalue())
    r = await sb.run(["python3", "proj/main.py"])
    assert r.stdout == "from archive\n", r


def _count_marked(marker: str) -> str:
    """Python source printing how many processes carry ``marker`` as an argument (never itself)."""
    head, tail = marker[: len(marker) // 2], marker[len(marker) // 2 :]
    return (
        "import os\n"
        "n = 0\n"
        "for p in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        f"        n += b'{head}' b'{tail}' in open(f'/proc/{{p}}/cmdline', 'rb').read().split(b'\\0')\n"
        "    except OSError:\n"
        "        pass\n"
        "print(n)\n"
    )


_COUNT_MARKED = _count_marked("agentscale-bg-marker")


async def check_background_process_is_stopped(sb) -> None:
    bg = "python3 -c 'import time; time.sleep(30)' agentscale-bg-marker > /dev/null 2>&1 &"
    r = await sb.run(f"{bg} echo started", timeout=20)
    assert r.ok and r.stdout == "started\n" and r.duration < 15, r
    r = await sb.run(["python3", "-c", _COUNT_MARKED])
    assert r.stdout.strip() == "0", f"a background process survived its call: {r}"


async def check_calls_are_serialised(sb) -> None:
    async def bump(i: int):
        return await sb.run(f"v=$(cat n 2>/dev/null || echo 0); sleep 0.05; echo $((v+1)) > n; echo {i}")

    await sb.run("rm -f n")
    await asyncio.gather(*(bump(i) for i in range(4)))
    assert (await sb.run("cat n")).stdout == "4\n"


async def check_git_diff(sb) -> None:
    if not hasattr(sb, "git_diff"):
        return
    await sb.run("mkdir -p repo_test && cd repo_test", files={"g/a.py": "a = 1\n"})
    await sb.commit_baseline()
    await sb.run("sed -i 's/1/2/' g/a.py", files={"g/new.py": "b = 3\n"})
    patch = await sb.git_diff()
    assert "-a = 1" in patch and "+a = 2" in patch and "g/new.py" in patch and "+b = 3" in patch, patch


CHECKS: dict[str, Check] = {
    name.removeprefix("check_"): fn for name, fn in globals().copy().items() if name.startswith("check_")
}
"""Every check, by name."""


async def run_all(sandbox) -> None:
    """Run every check against one sandbox (in a fixed order); the first failure raises."""
    for check in CHECKS.values():
        await check(sandbox)


# --- between leases: nothing one lease leaves reaches the next ---

_MQ = (
    "import ctypes, ctypes.util, os, sys\n"
    "name = b'/agentscale-leak'\n"
    "lib = ctypes.CDLL(ctypes.util.find_library('rt') or None, use_errno=True)\n"
    "lib.mq_open.restype = ctypes.c_int\n"
    "if sys.argv[1] == 'plant':\n"
    "    fd = lib.mq_open(name, os.O_CREAT | os.O_RDWR, ctypes.c_uint(0o600), None)\n"
    "    assert fd >= 0, os.strerror(ctypes.get_errno())\n"
    "    assert lib.mq_send(fd, b'secret', ctypes.c_size_t(6), ctypes.c_uint(0)) == 0\n"
    "    print('planted')\n"
    "else:\n"
    "    fd = lib.mq_open(name, os.O_RDONLY, ctypes.c_uint(0), None)\n"
    "    seen = sorted(os.listdir('/dev/mqueue')) if os.path.isdir('/dev/mqueue') else []\n"
    "    print('open' if fd >= 0 else os.strerror(ctypes.get_errno()), seen)\n"
)

_SYSV = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "key = 0x41534C4B\n"  # 'ASLK'
    "flags = 0o1600 if sys.argv[1] == 'plant' else 0\n"  # IPC_CREAT | 0600 to plant; 0 to look
    "ids = [libc.shmget(key, 4096 if flags else 0, flags), libc.semget(key, 1 if flags else 0, flags),\n"
    "       libc.msgget(key, flags)]\n"
    "print(' '.join('found' if i >= 0 else 'none' for i in ids))\n"
)

_FIND_WRITABLE = (
    # every directory the sandboxed user may write, outside the kernel's own /proc and /sys
    "find / \\( -path /proc -o -path /sys \\) -prune -o -type d -writable -print 2>/dev/null"
)


async def _in_two_leases(provider, plant: str | list[str], look: str | list[str], *, timeout: float = 60):
    """Run ``plant`` in one lease and ``look`` in the next; return both results."""
    async with provider.lease() as sb:
        planted = await sb.run(plant, timeout=timeout)
    async with provider.lease() as sb:
        seen = await sb.run(look, timeout=timeout)
    return planted, seen


async def lease_check_workdir_files(provider) -> None:
    plant = (
        "echo secret > left.txt && mkdir -p deep/er && echo x > deep/er/f && ln -s left.txt link && "
        "mkfifo pipe && chmod 000 deep/er deep && chmod 444 left.txt && echo planted"
    )
    planted, seen = await _in_two_leases(provider, plant, "ls -A | wc -l")
    assert planted.stdout.strip() == "planted", planted
    assert seen.ok and seen.stdout.strip() == "0", f"the work dir kept files of the last lease: {seen}"


async def lease_check_tmp_files(provider) -> None:
    plant = "echo secret > /tmp/left && mkdir -p /tmp/d && echo x > /tmp/d/f && echo planted"
    planted, seen = await _in_two_leases(provider, plant, "ls -A /tmp | wc -l")
    assert planted.stdout.strip() == "planted", planted
    assert seen.ok and seen.stdout.strip() == "0", f"/tmp kept files of the last lease: {seen}"


async def lease_check_dev_shm_files(provider) -> None:
    # POSIX shared memory and semaphores (shm_open, sem_open) are files in /dev/shm
    plant = (
        "import mmap, multiprocessing.shared_memory as s, os\n"
        "m = s.SharedMemory(name='agentscale-leak', create=True, size=4096); m.buf[:6] = b'secret'\n"
        "open('/dev/shm/left', 'w').write('x')\n"
        "print('planted')\n"
    )
    look = "import os; print(sorted(os.listdir('/dev/shm')))"
    planted, seen = await _in_two_leases(provider, ["python3", "-c", plant], ["python3", "-c", look])
    assert planted.stdout.strip() == "planted", planted
    assert seen.ok and seen.stdout.strip() == "[]", f"/dev/shm kept files of the last lease: {seen}"


async def lease_check_posix_message_queues(provider) -> None:
    planted, seen = await _in_two_leases(provider, ["python3", "-c", _MQ, "plant"], ["python3", "-c", _MQ, "look"])
    assert planted.stdout.strip() == "planted", planted
    assert seen.ok and seen.stdout.strip() == "No such file or directory []", (
        f"a POSIX message queue of the last lease is still there: {seen}"
    )


async def lease_check_sysv_ipc(provider) -> None:
    planted, seen = await _in_two_leases(provider, ["python3", "-c", _SYSV, "plant"], ["python3", "-c", _SYSV, "look"])
    assert planted.stdout.strip() == "found found found", planted
    assert seen.ok and seen.stdout.strip() == "none none none", (
        f"SysV IPC objects (shm, sem, msg) of the last lease are still there: {seen}"
    )


async def lease_check_writable_dir_modes(provider) -> None:
    # `chmod 500 /work` in one lease must not leave the next unable to write its own work dir;
    # nor may any other mode change (wider or narrower) carry over
    modes = f'for d in "$PWD" $({_FIND_WRITABLE}); do stat -c "%n %a %u:%g" "$d"; done | sort -u'
    async with provider.lease() as sb:
        before = await sb.run(modes)
        await sb.run(f'for d in $({_FIND_WRITABLE}); do chmod 500 "$d"; done; chmod 500 "$PWD"; true')
    async with provider.lease() as sb:
        after = await sb.run(modes)
        write = await sb.run("echo x > probe && echo /tmp > /tmp/probe && echo ok")
    assert before.ok and before.stdout, before
    assert after.stdout == before.stdout, f"modes carried over from the last lease:\n{before.stdout}---\n{after.stdout}"
    assert write.stdout.strip() == "ok", f"the last lease's chmod broke this one: {write}"


async def lease_check_every_writable_dir(provider) -> None:
    # whatever a backend makes writable (known or not), a file planted there must be gone
    name = "agentscale-lease-leak"
    plant = (
        f'n=0; for d in "$PWD" $({_FIND_WRITABLE}); do echo x > "$d/{name}" 2>/dev/null && n=$((n+1)); done; '
        "echo $n"
    )
    look = f"find / \\( -path /proc -o -path /sys \\) -prune -o -name {name} -print 2>/dev/null; true"
    planted, seen = await _in_two_leases(provider, plant, look)
    assert planted.ok and int(planted.stdout.strip() or 0) >= 1, planted
    assert seen.ok and seen.stdout.strip() == "", f"files planted in the last lease are still there:\n{seen.stdout}"


async def lease_check_processes(provider) -> None:
    sleeper = "python3 -c 'import time; time.sleep(300)' agentscale-lease-marker"
    plant = f"(nohup setsid {sleeper} >/dev/null 2>&1 &); ({sleeper} >/dev/null 2>&1 &); echo started"
    planted, seen = await _in_two_leases(provider, plant, ["python3", "-c", _count_marked("agentscale-lease-marker")])
    assert planted.stdout.strip() == "started", planted
    assert seen.ok and seen.stdout.strip() == "0", f"a process of the last lease is still running: {seen}"


LEASE_CHECKS: dict[str, LeaseCheck] = {
    name.removeprefix("lease_check_"): fn
    for name, fn in globals().copy().items()
    if name.startswith("lease_check_")
}
"""Every between-leases check, by name; each takes a provider (``lease()``), not a sandbox."""


async def run_lease_checks(provider) -> None:
    """Run every between-leases check against one provider (a pool of size 1); the first failure raises."""
    for check in LEASE_CHECKS.values():
        await check(provider)
