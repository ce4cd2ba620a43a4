"""Hostile code, run against both real backends (Docker, bubblewrap).

Every case ends with a clear result (an ``ExecResult`` saying what happened, or a ``ConfigError``
for input refused up front), leaves the host as it was, and leaves the sandbox usable.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import pathlib
import subprocess
import tarfile
import uuid

import pytest

from agentscale.errors import ConfigError, SandboxError

PROJECT = pathlib.Path(__file__).resolve().parents[2]
MARKER = "agentscale-hostile-marker"
SLEEPER = f"python3 -c 'import time; time.sleep(300)' {MARKER}"
"""A long sleep whose command line carries MARKER, so host_guard can find it on the host."""


def _digest(path: str) -> str | None:
    try:
        return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _host_procs_with(marker: str) -> list[int]:
    found = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in pathlib.Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0"):
                found.append(int(p))
        except OSError:
            pass
    return found


@pytest.fixture
def host_guard():
    """Snapshot what sandboxed code must never touch; check it again after the test."""
    watched = ["/etc/passwd", "/etc/shadow", str(PROJECT / "pyproject.toml")]
    before = {p: _digest(p) for p in watched}
    yield
    assert {p: _digest(p) for p in watched} == before, "a host file changed"
    assert not _host_procs_with(MARKER), "a sandboxed process is still running on the host"
    # the host can still start processes (no fork bomb spilled over)
    assert subprocess.run(["true"], timeout=10).returncode == 0


async def _usable(sb) -> None:
    r = await sb.run(["python3", "-c", "print('usable')"], timeout=20)
    assert r.ok and r.stdout == "usable\n", r


pytestmark = pytest.mark.usefixtures("host_guard")


async def test_infinite_loop(sandbox):
    r = await sandbox.run(["python3", "-c", "while True: pass"], timeout=2)
    assert r.timed_out and not r.ok and r.duration < 15, r
    await _usable(sandbox)


async def test_sleep_past_timeout(sandbox):
    r = await sandbox.run(SLEEPER, timeout=1)
    assert r.timed_out and r.exit_code != 0 and r.duration < 15, r
    await _usable(sandbox)


@pytest.mark.slow
async def test_fork_bomb(sandbox):
    r = await sandbox.run(["bash", "-c", ":(){ :|:& };:", MARKER], timeout=5)
    # The top-level shell returns at once and leaves the bomb running in the background, forking
    # against the pids limit: the call's end (or its timeout) kills the whole tree. host_guard
    # checks that no process of it survives on the host.
    assert "Resource temporarily unavailable" in r.stderr or r.timed_out or r.exit_code == 0, r
    assert r.duration < 30, r
    await _usable(sandbox)


async def test_python_fork_bomb(sandbox):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r = await sandbox.run(["python3", "-c", code, MARKER], timeout=3)
    assert r.timed_out, r
    await _usable(sandbox)


async def test_memory_bomb(sandbox):
    code = "x = []\nwhile True:\n    x.append(bytearray(10**6))\n"
    r = await sandbox.run(["python3", "-c", code], timeout=20)
    assert not r.ok and not r.timed_out, r
    # killed by the kernel for memory (cgroup), reported as such; without a memory cgroup the
    # address-space rlimit makes Python raise MemoryError instead
    assert r.oom_killed or "MemoryError" in r.stderr, r
    await _usable(sandbox)


async def test_fill_the_disk(sandbox, limits):
    code = (
        "import os\nf = open('big', 'wb')\n"
        "try:\n    while True:\n        f.write(b'x' * 2**20); f.flush()\n"
        "except OSError as e:\n    print('stopped:', e.strerror)\n"
    )
    r = await sandbox.run(["python3", "-c", code], timeout=20)
    # the tmpfs work dir is full (ENOSPC), the file-size rlimit hit (EFBIG/SIGXFSZ), or memory ran out
    assert r.stdout.startswith("stopped:") or r.oom_killed or r.exit_code != 0, r
    size = (await sandbox.run("stat -c %s big")).stdout.strip()
    assert int(size) <= limits.workdir_mb << 20
    r = await sandbox.run("dd if=/dev/zero of=/tmp/fill bs=1M count=1000 2>&1; ls -la /tmp/fill")
    assert "No space left" in r.stdout or "File too large" in r.stdout, r
    await sandbox.run("rm -f big /tmp/fill")
    await _usable(sandbox)


async def test_100mb_on_stdout(sandbox, limits):
    r = await sandbox.run(["python3", "-c", "import sys\nfor _ in range(100): sys.stdout.write('y' * 10**6)"])
    assert r.ok and r.truncated and len(r.stdout) == limits.output_bytes, r.model_copy(update={"stdout": ""})
    await _usable(sandbox)


async def test_connect_out_to_host_listener(sandbox):
    hits = []

    async def on_connect(reader, writer):
        hits.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        code = (
            "import socket\ns = socket.socket()\ns.settimeout(3)\n"
            f"try:\n    s.connect(('127.0.0.1', {port})); print('connected')\n"
            "except OSError as e:\n    print('refused', type(e).__name__)\n"
        )
        r = await sandbox.run(["python3", "-c", code], timeout=20)
        assert r.ok and r.stdout.startswith("refused"), r
        await asyncio.sleep(0.1)
        assert hits == [], "the sandbox reached a listener on the host's loopback"
    finally:
        server.close()
        await server.wait_closed()
    await _usable(sandbox)


async def test_dns_lookup(sandbox):
    code = (
        "import socket\ntry:\n    print(socket.getaddrinfo('pypi.org', 443)[0][4])\n"
        "except OSError as e:\n    print('no dns', type(e).__name__)\n"
    )
    r = await sandbox.run(["python3", "-c", code], timeout=20)
    assert r.ok and r.stdout.startswith("no dns"), r
    r = await sandbox.run(["python3", "-c", "import socket; print(socket.if_nameindex())"])
    assert "eth" not in r.stdout and "ens" not in r.stdout, r  # no interface but loopback


async def test_read_host_files(sandbox):
    secret = pathlib.Path.home() / f".agentscale-secret-{uuid.uuid4().hex}"
    secret.write_text("TOP SECRET\n")
    try:
        shadow = pathlib.Path("/etc/shadow").read_text()
        root_line = next(line for line in shadow.splitlines() if line.startswith("root:"))
        script = (
            f"cat /etc/shadow; cat {secret}; ls -a {pathlib.Path.home()}; cat {PROJECT / 'pyproject.toml'}; "
            f"ls {PROJECT}; find / -xdev -name '{secret.name}' 2>/dev/null; true"
        )
        r = await sandbox.run(script, timeout=20)
        assert root_line not in r.stdout, "host /etc/shadow is readable"
        assert "TOP SECRET" not in r.stdout and secret.name not in r.stdout, "the user's home is visible"
        assert 'name = "agentscale"' not in r.stdout, "the project tree is visible"
    finally:
        secret.unlink()
    await _usable(sandbox)


async def test_write_outside_workdir(sandbox):
    name = f"agentscale-escape-{uuid.uuid4().hex}"
    script = (
        "for d in / /etc /usr /usr/bin /root /var /home /opt; do "
        f"echo x > $d/{name} 2>/dev/null && echo wrote $d; done; "
        f"echo x > /tmp/{name} && echo tmp-ok"
    )
    r = await sandbox.run(script)
    assert "wrote" not in r.stdout, r
    assert "tmp-ok" in r.stdout, r  # /tmp is the sandbox's own tmpfs...
    assert not pathlib.Path(f"/tmp/{name}").exists()  # ...not the host's
    for d in ("/", "/etc", "/usr", "/root"):
        assert not (pathlib.Path(d) / name).exists()
    await _usable(sandbox)


async def test_background_process_after_return(sandbox):
    r = await sandbox.run(f"nohup setsid {SLEEPER} >/dev/null 2>&1 & disown; echo left", timeout=20)
    assert r.ok and r.stdout == "left\n" and not r.timed_out, r
    # host_guard checks no process with the marker survives on the host
    await _usable(sandbox)


async def test_background_process_holding_stdout(sandbox):
    r = await sandbox.run(f"{SLEEPER} & echo left", timeout=20)
    assert r.stdout == "left\n" and not r.timed_out and r.duration < 15, r
    await _usable(sandbox)


async def test_kill_pid_1(sandbox):
    scripts = ("kill -9 1", "kill -KILL -1", "python3 -c 'import os, signal; os.kill(1, signal.SIGKILL)'")
    for script in scripts:
        r = await sandbox.run(script)
        assert r.exit_code is not None, r
        await _usable(sandbox)


async def test_archive_with_dotdot_absolute_and_links(sandbox):
    def archive(*members: tuple[str, str, str]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, kind, target in members:
                info = tarfile.TarInfo(name)
                if kind == "file":
                    info.size = len(target)
                    tar.addfile(info, io.BytesIO(target.encode()))
                    continue
                info.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "dev": tarfile.CHRTYPE}[kind]
                info.linkname = target
                tar.addfile(info)
        return buf.getvalue()

    bad = [
        [("ok.txt", "file", "fine"), ("../escape.txt", "file", "x")],
        [("/etc/escape.txt", "file", "x")],
        [("link", "sym", "/etc/passwd")],
        [("sub/link", "sym", "../../outside")],
        [("hard", "hard", "/etc/passwd")],
        [("tty", "dev", "")],
    ]
    for members in bad:
        with pytest.raises(ConfigError):
            await sandbox.put_archive(archive(*members))
    # refused whole: not even the good member of the first archive was written
    assert await sandbox.read_files(["ok.txt"]) == {}
    await sandbox.put_archive(archive(("a/b.txt", "file", "fine"), ("a/link", "sym", "b.txt")))
    assert (await sandbox.run("cat a/link")).stdout == "fine"


async def test_file_names_with_dotdot_and_absolute_paths(sandbox):
    for name in ("../x", "/etc/x", "a/../../x", "./../x"):
        with pytest.raises(ConfigError):
            await sandbox.run("true", files={name: "x"})
    await _usable(sandbox)


async def test_symlinks_planted_inside_point_out(sandbox):
    r = await sandbox.run("ln -s /etc/shadow leak && ln -s / root && ln -s /etc dir && echo planted")
    assert r.stdout == "planted\n", r
    # reading never follows a link: the host's files cannot come out this way
    assert await sandbox.read_files(["leak", "root/etc/shadow", "dir/passwd"]) == {}
    # writing through a planted link either replaces the link or is refused; never writes outside
    try:
        await sandbox.run("true", files={"leak": "overwritten", "dir/evil": "x"})
    except SandboxError:
        pass
    assert not pathlib.Path("/etc/evil").exists()
    await _usable(sandbox)


async def test_binary_output(sandbox):
    r = await sandbox.run("head -c 65536 /dev/urandom; head -c 4096 /dev/urandom >&2")
    assert r.ok and isinstance(r.stdout, str) and len(r.stdout) > 0 and len(r.stderr) > 0, r
    await _usable(sandbox)


async def test_cancelled_call_kills_its_tree(sandbox):
    # first-finish strategies cancel the losing rollouts: their code must stop, not run on
    task = asyncio.ensure_future(sandbox.run(f"{SLEEPER} & setsid {SLEEPER}; wait", timeout=60))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _usable(sandbox)


async def test_quiet_long_call_is_not_cut_short(sandbox):
    r = await sandbox.run("sleep 2; echo done", timeout=20)
    assert r.ok and r.stdout == "done\n", r


async def test_no_host_file_descriptors_leak_in(sandbox):
    # an inherited fd to a host directory would let openat(fd, "..") walk out of the sandbox
    code = "import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))"
    r = await sandbox.run(["python3", "-c", code])
    assert r.stdout.strip() == "[0, 1, 2, 3]", r  # stdin, stdout, stderr, and the listing itself


async def test_closes_its_output_and_keeps_running(sandbox):
    r = await sandbox.run(f"exec >&- 2>&-; {SLEEPER}", timeout=2)
    assert r.timed_out and r.duration < 15, r
    await _usable(sandbox)


async def test_huge_command_line(sandbox):
    # half a megabyte of argv (one argument may hold 128 KiB): more than a socket message holds
    blob = "x" * 100_000
    code = "import sys; print(sum(map(len, sys.argv[1:])))"
    r = await sandbox.run(["python3", "-c", code, *[blob] * 5])
    assert r.ok and r.stdout == "500000\n", r
    r = await sandbox.run("echo ${#BIG}", env={"BIG": blob})
    assert r.stdout == "100000\n", r
