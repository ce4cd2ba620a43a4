"""The server lifecycle on real processes: Python's own http.server stands in for a model server
(a folder with ``health`` and ``v1/models`` files answers both probes), so these run in seconds."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentscale.errors import ServerError
from agentscale.servers import ManagedServer


class CommandServer(ManagedServer):
    """A managed server whose command is given; ``{port}`` and ``{root}`` are filled in."""

    kind = "test"

    def __init__(self, argv: list[str], root: Path, name: str = "stand-in", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.argv, self.root, self.name = argv, root, name

    @property
    def served_name(self) -> str:
        return self.name

    def identity(self) -> dict[str, Any]:
        return {"argv": self.argv, "root": str(self.root)}

    def command(self, port: int) -> list[str]:
        return [a.format(port=port, root=self.root) for a in self.argv]


HTTP = [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1", "--directory", "{root}"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def _wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not _alive(pid)


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "www"
    (folder / "v1").mkdir(parents=True)
    (folder / "health").write_text("ok")
    (folder / "v1" / "models").write_text(json.dumps({"data": [{"id": "stand-in"}]}))
    return folder


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


async def test_start_serves_health_and_stop_kills_it(root, cache):
    srv = CommandServer(HTTP, root, cache_dir=cache)
    async with srv:
        assert srv.api_base == f"http://127.0.0.1:{srv.port}/v1"
        assert srv.model == "hosted_vllm/stand-in"
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(f"{srv.base_url}/health")).status_code == 200
        pid = srv.pid
        assert pid and _alive(pid) and not srv.reused
        assert srv.log_path and srv.log_path.parent == cache / "logs"
        assert len(list((cache / "servers").glob("*.json"))) == 1
    assert await _wait_dead(pid)
    assert not list((cache / "servers").glob("*.json"))  # its record goes with it
    await srv.stop()  # twice is fine


async def test_a_running_server_with_the_same_settings_is_reused(root, cache):
    async with CommandServer(HTTP, root, cache_dir=cache) as owner:
        async with CommandServer(HTTP, root, cache_dir=cache) as other:
            assert other.reused and other.port == owner.port and other.pid == owner.pid
        assert _alive(owner.pid)  # leaving a reused server does not stop it
        async with CommandServer(HTTP, root, cache_dir=cache, reuse=False) as private:
            assert not private.reused and private.port != owner.port
            record = json.loads(next((cache / "servers").glob("*.json")).read_text())
            assert record["pid"] == owner.pid  # a private server does not offer itself
        async with CommandServer(HTTP, root, name="another-model", cache_dir=cache) as different:
            assert not different.reused  # different settings: a server of its own
    assert await _wait_dead(owner.pid)


async def test_a_stale_record_is_ignored_and_replaced(root, cache):
    async with CommandServer(HTTP, root, cache_dir=cache) as first:
        record = next((cache / "servers").glob("*.json"))
        saved = record.read_text()
    record.write_text(saved)  # as if its owner had been killed before cleaning up
    async with CommandServer(HTTP, root, cache_dir=cache) as second:
        assert not second.reused and second.pid != first.pid
        assert json.loads(record.read_text())["pid"] == second.pid


async def test_a_fixed_port_is_used(root, cache):
    from agentscale.servers import free_port

    port = free_port()
    async with CommandServer(HTTP, root, cache_dir=cache, port=port) as srv:
        assert srv.base_url == f"http://127.0.0.1:{port}"


async def test_health_timeout_is_an_error_with_the_log_and_kills_the_process(tmp_path, cache):
    script = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(600)"
    srv = CommandServer([sys.executable, "-c", script], tmp_path, cache_dir=cache, startup_timeout=1.0)
    with pytest.raises(ServerError, match="did not become healthy within 1 s") as info:
        await srv.start()
    log = Path(info.value.log_path)
    assert log.is_file() and str(log) in str(info.value)
    pid = int(log.read_text().split("pid ")[1].split()[0])
    assert await _wait_dead(pid)
    assert pickle.loads(pickle.dumps(info.value)).log_path == info.value.log_path


async def test_a_process_that_dies_at_start_is_a_clear_error(tmp_path, cache):
    srv = CommandServer(
        ["sh", "-c", "echo 'error: cannot load model' >&2; exit 3"], tmp_path, cache_dir=cache
    )
    started = time.monotonic()
    with pytest.raises(ServerError, match=r"exited with code 3 while starting:\n.*cannot load model"):
        await srv.start()
    assert time.monotonic() - started < 30  # noticed the death, did not wait for the health timeout


async def test_a_missing_executable_is_a_clear_error(tmp_path, cache):
    with pytest.raises(ServerError, match="no-such-server-binary.*not found"):
        await CommandServer(["no-such-server-binary"], tmp_path, cache_dir=cache).start()


async def test_stop_kills_the_whole_process_group(root, cache, tmp_path):
    child_pid_file = tmp_path / "child.pid"
    # The server leaves a grandchild that ignores SIGTERM: only a group-wide SIGKILL ends it.
    argv = [
        "sh",
        "-c",
        f"sh -c 'trap \"\" TERM; sleep 600' & echo $! > {child_pid_file}; exec " + " ".join(HTTP),
    ]
    srv = CommandServer(argv, root, cache_dir=cache, stop_timeout=1.0)
    await srv.start()
    child = int(child_pid_file.read_text())
    assert _alive(child) and os.getpgid(child) == srv.pid
    await srv.stop()
    assert await _wait_dead(srv.pid or 0) and await _wait_dead(child)


async def test_cancelling_a_start_leaves_no_process(tmp_path, cache):
    script = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(600)"
    srv = CommandServer([sys.executable, "-c", script], tmp_path, cache_dir=cache, startup_timeout=60)
    task = asyncio.create_task(srv.start())
    log = None
    for _ in range(200):
        await asyncio.sleep(0.05)
        logs = list((cache / "logs").glob("*.log")) if (cache / "logs").exists() else []
        if logs and "pid " in logs[0].read_text():
            log = logs[0]
            break
    assert log is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pid = int(log.read_text().split("pid ")[1].split()[0])
    assert await _wait_dead(pid)


async def test_the_server_dies_with_its_owner(root, cache, tmp_path):
    """A server started by a process that is SIGKILLed does not outlive it (setpriv --pdeathsig)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux-only")
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_process import CommandServer, HTTP
from pathlib import Path
async def main():
    srv = await CommandServer(HTTP, Path({str(root)!r}), cache_dir=Path({str(cache)!r})).start()
    print(srv.pid, flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    server_pid = int((await asyncio.wait_for(proc.stdout.readline(), 60)).decode())
    assert _alive(server_pid)
    proc.kill()
    await proc.wait()
    assert await _wait_dead(server_pid)
