"""Backend-specific checks: the Docker container's hardening, bubblewrap over the host's /usr, auto."""

from __future__ import annotations

import pathlib

import pytest

from agentscale.sandboxes import SandboxPool, make_backend, open_sandbox
from agentscale.testing.sandbox_conformance import CHECKS


@pytest.mark.docker
async def test_docker_container_is_locked_down(docker_ready, limits):
    import docker

    async with open_sandbox("docker", limits=limits) as sb:
        client = docker.from_env()
        try:
            info = client.api.inspect_container(sb.container_id)
        finally:
            client.close()
        enforced = sb.enforced
    host = info["HostConfig"]
    # lives only while its owner holds its stdin open; the engine removes it once stopped
    assert info["Config"]["OpenStdin"] is True and info["Config"]["StdinOnce"] is True
    assert info["Config"]["Cmd"] == ["cat"] and host["AutoRemove"] is True
    ulimits = {u["Name"]: u["Hard"] for u in host["Ulimits"]}
    assert ulimits == {"cpu": limits.cpu_seconds, "fsize": limits.file_mb << 20, "core": 0}
    assert enforced.missing() == [] and enforced.syscall_filter == "seccomp (Docker's default profile)"
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] == host["MemorySwap"] == limits.memory_mb << 20
    assert host["PidsLimit"] == limits.pids
    assert host["NanoCpus"] == int(limits.cpus * 1e9)
    assert set(host["Tmpfs"]) == {"/tmp", "/work"}
    assert info["Config"]["Labels"]["agentscale.sandbox"] == "1"
    assert info["Config"]["User"] != "" and not info["Config"]["User"].startswith("0")


@pytest.mark.docker
async def test_docker_exec_runs_unprivileged(docker_ready, limits):
    async with open_sandbox("docker", limits=limits) as sb:
        r = await sb.run("id -u; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status")
    uid, cap, nnp = r.stdout.splitlines()
    assert uid == "65534" and cap.split()[1] == "0000000000000000" and nnp.split()[1] == "1"


@pytest.mark.bwrap
async def test_bwrap_code_runs_unprivileged(bwrap_ready, limits):
    async with open_sandbox("bwrap", limits=limits) as sb:
        r = await sb.run("id -u; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status")
    uid, cap, nnp = r.stdout.splitlines()
    assert uid == "65534" and cap.split()[1] == "0000000000000000" and nnp.split()[1] == "1"


@pytest.mark.bwrap
@pytest.mark.parametrize("check", ["exit_code_and_streams", "files_in_and_out", "timeout", "git_diff"])
async def test_bwrap_over_host_usr(bwrap_ready, limits, check):
    async with open_sandbox("bwrap", limits=limits, rootfs="host") as sb:
        await CHECKS[check](sb)


@pytest.mark.bwrap
async def test_bwrap_over_host_usr_hides_the_host(bwrap_ready, limits):
    project = pathlib.Path(__file__).resolve().parents[2]
    async with open_sandbox("bwrap", limits=limits, rootfs="host") as sb:
        r = await sb.run(f"ls /; cat /etc/shadow; ls {pathlib.Path.home()} {project}; cat /etc/passwd")
    listing = set(r.stdout.split())
    assert {"usr", "work", "tmp", "etc"} <= listing and "root" not in listing and "home" not in listing
    assert "No such file" in r.stderr
    assert pathlib.Path("/etc/passwd").read_text() != r.stdout  # a minimal passwd, not the host's


@pytest.mark.docker
async def test_auto_prefers_docker_when_an_engine_answers(docker_ready, limits):
    async with SandboxPool(make_backend("auto", limits=limits), size=2) as pool:
        assert pool.backend_name == "docker"
        async with pool.lease() as sb:
            assert (await sb.run(["python3", "-c", "print(1)"])).stdout == "1\n"


@pytest.mark.bwrap
async def test_auto_falls_back_to_bwrap_without_an_engine(bwrap_ready, limits):
    import docker

    no_engine = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    async with open_sandbox("auto", limits=limits, client=no_engine) as sb:
        assert sb.backend == "bwrap"
        assert (await sb.run("echo hi")).stdout == "hi\n"


async def test_image_has_the_tools(sandbox):
    r = await sandbox.run("python --version && python3 -m pytest --version && git --version && tar --version")
    assert r.ok, r
    assert "Python 3" in r.stdout and "pytest" in r.stdout + r.stderr and "git version" in r.stdout


async def test_swe_workflow_upload_edit_diff(sandbox, tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("def add(a, b):\n    return a - b\n")
    (repo / "tests").mkdir()
    test = "from pkg import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    (repo / "tests" / "test_add.py").write_text(test)
    (repo / ".git").mkdir()
    (repo / ".git" / "secret").write_text("not uploaded")
    await sandbox.upload_dir(repo)
    assert await sandbox.read_files([".git/secret"]) == {}
    await sandbox.commit_baseline()
    failing = await sandbox.run("python -m pytest -q -p no:cacheprovider", timeout=60)
    assert failing.exit_code == 1 and "1 failed" in failing.stdout, failing
    await sandbox.run("sed -i 's/a - b/a + b/' pkg/__init__.py")
    passing = await sandbox.run("python -m pytest -q -p no:cacheprovider", timeout=60)
    assert passing.ok and "1 passed" in passing.stdout, passing
    patch = await sandbox.git_diff()
    assert "-    return a - b" in patch and "+    return a + b" in patch
    assert "__pycache__" not in patch


async def test_tmp_persists_between_calls_until_the_reset(sandbox):
    # both backends run a lease's calls in one running sandbox (a container, one bwrap)
    await sandbox.run("echo kept > /tmp/t && echo kept > /dev/shm/s")
    assert (await sandbox.run("cat /tmp/t /dev/shm/s")).stdout == "kept\nkept\n"
    await sandbox.reset()
    r = await sandbox.run("ls -A /tmp /dev/shm | grep -v '^/' | grep -v '^$' | wc -l")
    assert r.stdout.strip() == "0", r


@pytest.mark.bwrap
async def test_bwrap_agent_killed_by_the_code_comes_back(bwrap_ready, limits):
    async with open_sandbox("bwrap", limits=limits) as sb:
        first = sb._instance.child.pid
        r = await sb.run("kill -KILL -1; sleep 5")  # kills the agent too: same user
        assert r.exit_code == 137 and r.duration < 5, r
        assert (await sb.run("echo back")).stdout == "back\n"
        assert sb._instance.child.pid != first  # a new bwrap
