"""Checks any ``Sandbox`` must pass, for your backend's tests and ours.

Each check is ``async def check(sandbox) -> None`` and raises ``AssertionError`` when the
sandbox misbehaves; it leaves the sandbox usable. ``CHECKS`` maps names to checks, so a test
suite can parametrise over them::

    @pytest.mark.parametrize("name", sorted(CHECKS))
    async def test_conformance(my_sandbox, name):
        await CHECKS[name](my_sandbox)

The sandbox must have ``python3``, ``bash`` and ``git``, and ``git_diff``/``commit_baseline``
methods for the git check (skipped by ``run_all`` when absent). Nothing here imports pytest.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Awaitable, Callable
from typing import Any

from agentscale.errors import ConfigError

__all__ = ["CHECKS", "run_all"]

Check = Callable[[Any], Awaitable[None]]


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


_COUNT_MARKED = (
    "import os\n"
    "n = 0\n"
    "for p in filter(str.isdigit, os.listdir('/proc')):\n"
    "    try:\n"
    "        n += b'agentscale-bg-' b'marker' in open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')\n"
    "    except OSError:\n"
    "        pass\n"
    "print(n)\n"
)


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
