"""Building llama-server: cache hits, a missing toolchain, and the build's control flow, driven by a
stand-in ``cmake`` script (the real 6-minute build is exercised by the ``llama_server`` fixture)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentscale.errors import ServerError
from agentscale.servers.build import CMAKE_FLAGS, ensure_llama_server, llama_server_path

VERSION = "0.0.test"

# Configure records its arguments; build prints cmake-like progress and leaves a runnable binary.
FAKE_CMAKE = """#!/bin/sh
if [ "$1" = "--build" ]; then
    [ -n "$FAKE_CMAKE_FAIL" ] && { echo "error: something broke"; exit 2; }
    for p in 5 12 50 99 100; do echo "[ $p%] Building CXX object x.o"; done
    mkdir -p "$2/bin"
    printf '#!/bin/sh\\necho "version: fake"\\n' > "$2/bin/llama-server"
    chmod +x "$2/bin/llama-server"
    echo "$*" >> "$FAKE_CMAKE_CALLS"
else
    echo "$*" >> "$FAKE_CMAKE_CALLS"
    echo "-- Configuring done"
fi
"""


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_source(tmp_path):
    cache = tmp_path / "cache"
    tree = cache / "src" / f"llama_cpp_python-{VERSION}" / "vendor" / "llama.cpp"
    tree.mkdir(parents=True)
    (tree / "CMakeLists.txt").write_text("# stand-in\n")
    return cache


@pytest.fixture
def fake_cmake(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    _executable(bindir / "cmake", FAKE_CMAKE)
    calls = tmp_path / "cmake-calls.txt"
    monkeypatch.setenv("FAKE_CMAKE_CALLS", str(calls))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_path_is_keyed_by_version(tmp_path):
    assert (
        llama_server_path(tmp_path, "1.2.3")
        == tmp_path / "llama-server" / "llama-cpp-python-1.2.3" / "llama-server"
    )


def test_a_cached_working_binary_is_returned_without_building(tmp_path, monkeypatch):
    dest = _executable(llama_server_path(tmp_path, VERSION), "#!/bin/sh\necho version: cached\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no cmake, no compiler: must not be needed
    assert ensure_llama_server(tmp_path, version=VERSION, progress=None) == dest


def test_missing_toolchain_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ServerError, match=r"needs cmake, a C\+\+ compiler, make .*apt-get install"):
        ensure_llama_server(tmp_path, version=VERSION, progress=None)


def test_builds_with_the_measured_flags_and_installs_the_binary(fake_source, fake_cmake):
    messages: list[str] = []
    dest = ensure_llama_server(fake_source, version=VERSION, progress=messages.append)
    assert dest == llama_server_path(fake_source, VERSION)
    assert os.access(dest, os.X_OK)
    configure, build = fake_cmake.read_text().splitlines()
    assert all(flag in configure.split() for flag in CMAKE_FLAGS)
    assert "--target llama-server -j 2" in build
    assert [m for m in messages if "%" in m] == [
        f"  building llama-server: {p}%" for p in (0, 10, 50, 90, 100)
    ]
    log = fake_source / "logs" / f"llama-server-build-{VERSION}.log"
    assert "Configuring done" in log.read_text()
    # second call: cached, no new cmake calls
    ensure_llama_server(fake_source, version=VERSION, progress=None)
    assert len(fake_cmake.read_text().splitlines()) == 2


def test_a_failed_build_names_its_log_and_installs_nothing(fake_source, fake_cmake, monkeypatch):
    monkeypatch.setenv("FAKE_CMAKE_FAIL", "1")
    with pytest.raises(ServerError, match="something broke") as info:
        ensure_llama_server(fake_source, version=VERSION, progress=None)
    assert info.value.log_path and Path(info.value.log_path).is_file()
    assert not llama_server_path(fake_source, VERSION).exists()
    assert not llama_server_path(fake_source, VERSION).with_name("llama-server.tmp").exists()


def test_a_broken_cached_binary_is_rebuilt(fake_source, fake_cmake):
    dest = _executable(llama_server_path(fake_source, VERSION), "#!/bin/sh\nexit 1\n")
    assert ensure_llama_server(fake_source, version=VERSION, progress=None) == dest
    assert "fake" in os.popen(f"{dest} --version").read()
