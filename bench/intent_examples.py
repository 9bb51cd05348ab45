"""Writes the shop assistant's intent examples (``touchline/assistant/seed/intent_examples.yaml``) from the
tuning part of the question set (``tests/data/assistant_questions.yaml``, ``split: tune`` only: a held-out
question never becomes an example). Each example keeps its text and its intent, with the shop's own
questions (FAQ and products) as ``shop``: the examples teach the assistant the intents every shop has (a
request for a person, a greeting, the shopper's own order, a question outside the shop), not one shop's FAQ.

    python bench/intent_examples.py          # rewrite the seed file and its embeddings
    python bench/intent_examples.py --check  # exit 1 if the seed file is not what the question set gives
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

from touchline.assistant.semantic import embed, examples_digest
from touchline.assistant.text import normalize

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "data" / "assistant_questions.yaml"
SEED = ROOT / "src" / "touchline" / "assistant" / "seed" / "intent_examples.yaml"
VECTORS = SEED.with_suffix(".npz")  # their embeddings, float16, with the digest of the text they came from
GENERIC = ("handover", "smalltalk", "order_status", "none")
HEADER = """# The shop assistant's intent examples, written by bench/intent_examples.py from the tuning part of
# tests/data/assistant_questions.yaml (never its held-out part): text and intent, the shop's own questions
# (FAQ, products) as `shop`. A question's nearest examples (touchline.assistant.semantic.IntentExamples) vote
# on the intents every shop has, beside the rules of touchline.assistant.intents. Do not edit by hand.
"""


def render() -> str:
    questions = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    rows = [{"text": q["text"], "intent": q["intent"] if q["intent"] in GENERIC else "shop"}
            for q in questions if q["split"] == "tune"]
    return HEADER + yaml.safe_dump(rows, allow_unicode=True, sort_keys=False, width=1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        same = SEED.exists() and SEED.read_text(encoding="utf-8") == text
        with np.load(VECTORS) as shipped:
            same = same and str(shipped["digest"]) == examples_digest(text)
        print("up to date" if same else f"{SEED} or {VECTORS.name} differs from the question set's tuning part")
        return 0 if same else 1
    SEED.write_text(text, encoding="utf-8")
    rows = yaml.safe_load(text)
    vectors = embed([normalize(r["text"]) for r in rows]).astype(np.float16)
    np.savez_compressed(VECTORS, vectors=vectors, digest=np.array(examples_digest(text)))
    print(f"wrote {SEED} and {VECTORS.name} ({len(rows)} examples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
