"""The profanity filter for reviews and comments, Korean and English (pure: no I/O).

English: ``glin-profanity`` (a maintained, MIT-licensed filter with leetspeak and obfuscation handling).
Its Korean dictionary matches whole words only, so it misses the forms Korean actually writes (씨발놈아,
개새끼야, 병신같은: the stem with a particle or ending attached) and flags ordinary praise (미친 가격, "a
crazy price"); ``korcen`` (a Korean keyword filter) missed 씨발 in a sentence when tried. Korean is
therefore matched here against a small curated list of stems (below), on the text with what people put
between the syllables to dodge a filter removed (씨 발, 씨1발, 씨.발), and with a few innocent words that
contain a stem (시발점 "starting point", 시발역) taken out first. Initial-consonant spellings (ㅅㅂ, ㅂㅅ)
count too.

A finding flags a review for a moderator; nothing is rejected by the filter alone.
"""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["KOREAN_STEMS", "find_profanity", "mask"]

# Stems of Korean swear words and slurs (matched anywhere in a word: endings and particles follow).
KOREAN_STEMS: tuple[str, ...] = (
    "씨발", "시발", "씨빨", "씨팔", "시팔", "쓰발", "쌍놈", "쌍년", "씹새", "씹년", "씹할", "씹창", "좆", "존나",
    "졸라",
    "개새끼", "개색기", "개세끼", "개새기", "개자식", "개년", "개놈", "개같", "개소리", "병신", "븅신", "빙신",
    "지랄", "닥쳐", "꺼져", "미친놈", "미친년", "미친새끼", "또라이", "니애미", "느금마", "니미럴", "엠창", "썅",
    "호로새끼", "후레자식", "걸레년", "창녀", "염병", "엿먹어",
)
# Abbreviations in initial consonants, matched as whole tokens.
KOREAN_JAMO: tuple[str, ...] = ("ㅅㅂ", "ㅆㅂ", "ㅂㅅ", "ㅈㄹ", "ㅈㄴ", "ㄱㅅㄲ", "ㅁㅊ", "ㅄ")
# Innocent words that contain a stem, removed before matching.
KOREAN_ALLOWED: tuple[str, ...] = ("시발점", "시발역", "시발택시", "시발자동차", "개같이 좋", "꺼져가", "꺼져서",
                                   "꺼져있", "꺼져 있", "존나이트")

_HANGUL = "\uac00-\ud7a3"
# What people put between syllables to dodge a filter: digits, punctuation, Latin letters; spaces only
# for the stems no ordinary phrase spells across a space (주문 시 발송 is "ships upon order").
_BETWEEN = re.compile(rf"(?<=[{_HANGUL}])[\d.,_*~!@#$%^&()\-+=/\\|'\"`a-zA-Z]{{1,3}}(?=[{_HANGUL}])")
_SPACES = re.compile(rf"(?<=[{_HANGUL}])[\s\d.,_*~!@#$%^&()\-+=/\\|'\"`a-zA-Z]{{1,3}}(?=[{_HANGUL}])")
_SPACED_STEMS = ("씨발", "씨팔", "씨빨", "씹새")
_JAMO_TOKEN = re.compile(r"[\u3131-\u318e]+")


@functools.cache
def _english() -> Any:
    from glin_profanity import Filter  # imported on first use: it loads its dictionaries

    return Filter({"languages": ["english"], "detect_leetspeak": True, "replace_with": "*"})


def _korean(text: str) -> list[str]:
    found: list[str] = []
    for word in KOREAN_ALLOWED:
        text = text.replace(word, " ")
    # Stems as written, then with the dodging characters between syllables removed.
    squeezed = _BETWEEN.sub("", text)
    for candidate in (text, squeezed):
        for stem in KOREAN_STEMS:
            if stem in candidate and stem not in found:
                found.append(stem)
    spaced = _SPACES.sub("", text)
    for stem in _SPACED_STEMS:
        if stem in spaced and stem not in found:
            found.append(stem)
    for token in _JAMO_TOKEN.findall(text):
        for abbreviation in KOREAN_JAMO:
            if abbreviation in token and abbreviation not in found:
                found.append(abbreviation)
    return found


def _english_words(text: str) -> list[str]:
    if not re.search(r"[A-Za-z]", text):
        return []
    result = _english().check_profanity(text)
    words = result.get("profane_words") if isinstance(result, dict) else None
    if isinstance(result, dict) and result.get("contains_profanity"):
        return sorted({str(w).lower() for w in (words or ["(english)"])})
    return []


def find_profanity(*texts: str | None) -> list[dict[str, str]]:
    """What the filter found in the texts: ``[{"language": "ko"|"en", "term": ...}]`` (empty: clean)."""
    found: list[dict[str, str]] = []
    for text in texts:
        if not text:
            continue
        found += [{"language": "ko", "term": t} for t in _korean(text)]
        found += [{"language": "en", "term": t} for t in _english_words(text)]
    unique: dict[tuple[str, str], dict[str, str]] = {(f["language"], f["term"]): f for f in found}
    return list(unique.values())


def mask(text: str, findings: list[dict[str, str]]) -> str:
    """The text with each Korean stem found masked (씨발 -> 씨*), for a moderator's list."""
    for finding in findings:
        term = finding["term"]
        if finding["language"] == "ko" and term in text:
            text = text.replace(term, term[0] + "*" * (len(term) - 1))
    return text
