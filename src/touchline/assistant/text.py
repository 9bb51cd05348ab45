"""Text handling: normalisation, language detection and tokens for the rankers.

Korean goes through kiwipiepy's morphological analyser (its model ships inside the PyPI wheel
``kiwipiepy_model``: nothing is downloaded): content morphemes (nouns, verb and adjective stems, adverbs,
Latin words) are kept, particles and endings dropped, so ``반품은``, ``반품할래요`` and ``반품 어떻게`` share
``반품``. Syllable bigrams of the text with its spaces removed are a second token stream: they make
``배송기간얼마나걸림`` and ``배송 기간 얼마나 걸림`` alike and survive a typo in one syllable. English gets
lowercase words with light stemming and character trigrams for typos.

A small bilingual lexicon maps words to shared concepts (``반품`` and ``return`` both give ``~return``),
so mixed Korean/English questions meet entries written in either language.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import warnings
from collections.abc import Iterable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
_SPACES = re.compile(r"\s+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_JAMO = re.compile(r"[\u3131-\u318e\u1100-\u11ff]")
_COMPAT_JAMO = re.compile(r"[\u3131-\u318e]+")
_COMPAT_JAMO_RUN = re.compile(r"([\u3131-\u318e]+)")
_LATIN = re.compile(r"[a-z]")
_EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_REPEAT = re.compile(r"(.)\1{2,}")
# Texts longer than this are cut before analysis: a question is short, and latency must stay bounded.
MAX_CHARS = 500


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits fold, Hangul composes), lowercase, no control characters,
    runs of one character cut to two (``ㅠㅠㅠㅠ``, ``??????``), single spaces, trimmed."""
    # NFKC would turn compatibility jamo (``ㅠㅠ``, ``ㅎㅇ``) into conjoining jamo: fold the rest only.
    text = (text or "").encode("utf-8", "ignore").decode("utf-8")  # lone surrogates: the analyser chokes
    text = "".join(part if _COMPAT_JAMO.fullmatch(part) else unicodedata.normalize("NFKC", part)
                   for part in _COMPAT_JAMO_RUN.split(text) if part)
    text = _CONTROL.sub(" ", text).lower()
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()[:MAX_CHARS]


def detect_language(text: str, default: str = "ko") -> str:
    """``ko`` when Hangul makes up at least a fifth of the letters (mixed questions such as ``M size
    재고 있나요`` are Korean: the shopper writes Korean around product words), ``en`` when there are Latin
    letters and little Hangul, ``default`` when there are no letters at all."""
    lowered = (text or "").lower()
    hangul = len(_HANGUL.findall(lowered)) + len(_JAMO.findall(lowered)) // 2
    latin_words = len(_EN_WORD.findall(re.sub(r"[^a-z0-9' ]", " ", lowered)))
    latin = len(_LATIN.findall(lowered))
    if hangul == 0 and latin == 0:
        return default
    if hangul and hangul >= 0.2 * (hangul + latin):
        return "ko"
    if hangul and latin_words <= 2 and hangul >= 2:
        return "ko"
    return "en" if latin else "ko"


def hangul_ratio(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if _HANGUL.match(c)) / len(letters) if letters else 0.0


# --- a bilingual lexicon: surface forms (Korean morphemes, English stems) -> shared concepts ----------

_CONCEPTS: dict[str, tuple[str, ...]] = {
    "ship": ("배송", "택배", "배달", "출고", "발송", "ship", "shipping", "deliver", "delivery", "shipment", "courier",
             "parcel", "package", "arrive", "도착"),
    "fee": ("비", "배송비", "택배비", "요금", "비용", "fee", "cost", "charge", "무배", "무료배송", "free"),
    "time": ("며칠", "기간", "얼마나", "long", "day", "days", "시간", "걸리", "걸림", "걸려", "언제"),
    "track": ("조회", "송장", "송장번호", "배송조회", "운송장", "추적", "track", "tracking", "위치"),
    "dawn": ("새벽", "새벽배송", "당일", "당일배송", "아침", "내일", "morning", "tomorrow", "same", "express",
             "빠른배송"),
    "remote": ("제주", "제주도", "도서", "산간", "도서산간", "섬", "울릉도", "jeju", "island", "islands", "remote"),
    "abroad": ("해외", "해외배송", "외국", "국제", "미국", "일본", "싱가포르", "대만", "overseas", "international",
               "internationally", "abroad", "japan", "us", "usa", "singapore", "taiwan"),
    "split": ("따로", "묶음", "묶음배송", "합배송", "나누", "나머지", "일부", "separately", "separate", "combine",
              "together", "part", "half", "box", "boxes"),
    "address": ("주소", "배송지", "address", "adress", "이사"),
    "change": ("변경", "수정", "바꾸", "바꿀", "change", "edit", "modify", "update", "fix"),
    "cancel": ("취소", "cancel", "cancellation", "실수"),
    "option": ("옵션", "색상", "색깔", "색", "수량", "option", "color", "colour", "quantity"),
    "return": ("반품", "return", "returns", "돌려보내", "반송"),
    "exchange": ("교환", "exchange", "swap"),
    "refund": ("환불", "refund", "refunded", "refundable", "money", "돈", "입금되"),
    "size": ("사이즈", "치수", "size", "sizes", "실측", "fit", "정사이즈", "크", "작", "small", "large", "big",
             "bigger",
             "smaller", "커", "큰", "작은"),
    "chart": ("사이즈표", "가이드", "chart", "guide", "measurement", "measurements", "표", "길이", "총장", "어깨",
              "단면", "cm", "length", "width", "shoulder", "inseam", "waist"),
    "defect": ("불량", "파손", "하자", "고장", "깨지", "깨져", "깨", "damaged", "defective", "broken", "faulty",
               "broke", "구멍", "찢어", "찢어진", "터진", "흠집", "스크래치", "hole", "holes", "crack", "cracked",
               "smashed", "scratch", "scratched", "stopped", "ripped", "torn"),
    "wrong": ("오배송", "다른", "wrong", "different", "else", "elses", "달라", "다르"),
    "pay": ("결제", "결제수단", "pay", "payment", "paid", "paying", "checkout"),
    "kakao": ("카카오페이", "카카오", "카페이", "kakaopay", "kakao"),
    "naver": ("네이버페이", "네이버", "네페", "naverpay", "naver"),
    "toss": ("토스", "토스페이", "toss", "tosspay"),
    "bank": ("무통장", "무통장입금", "입금", "가상계좌", "계좌", "bank", "transfer", "wire", "account"),
    "installment": ("할부", "무이자", "installment", "installments", "monthly", "instalment"),
    "receipt": ("영수증", "현금영수증", "세금계산서", "전표", "receipt", "invoice", "tax"),
    "store": ("매장", "지점", "오프라인", "store", "stores", "shop", "branch", "physical"),
    "hours": ("영업시간", "영업", "몇시", "시", "open", "close", "hours", "opening", "time", "문"),
    "support": ("고객센터", "전화", "전화번호", "customer", "service", "phone", "call", "support", "center"),
    "coupon": ("쿠폰", "할인", "coupon", "coupons", "discount", "code", "promo"),
    "welcome": ("신규", "첫", "첫구매", "가입", "신규가입", "회원가입", "new", "first", "welcome", "sign"),
    "points": ("적립금", "포인트", "적립", "point", "points", "reward", "rewards", "리뷰", "review"),
    "tier": ("등급", "vip", "멤버십", "회원등급", "tier", "tiers", "membership", "level", "gold", "member"),
    "gift": ("선물", "포장", "선물포장", "선물하기", "gift", "wrap", "wrapping", "present", "쇼핑백", "friend", "친구",
             "shopping"),
    "restock": ("재입고", "품절", "입고", "restock", "restocked", "sold", "out", "back"),
    "account": ("회원", "계정", "아이디", "account", "id", "guest", "비회원", "register"),
    "password": ("비밀번호", "비번", "로그인", "password", "login", "log"),
    "delete": ("탈퇴", "삭제", "회원탈퇴", "delete", "close", "remove", "unsubscribe"),
    "fresh": ("식품", "신선식품", "김치", "개봉", "뜯", "화장품", "food", "fresh", "opened", "skincare", "cosmetic",
              "cosmetics"),
    "warranty": ("as", "a/s", "보증", "보증기간", "수리", "warranty", "repair", "repaired"),
    "pickup": ("픽업", "수령", "pickup", "pick", "collect"),
    "price_drop": ("차액", "인하", "내리", "내렸", "떨어지", "떨어졌", "drop", "dropped", "adjustment", "sale",
                   "difference"),
    "cod": ("착불", "후불", "현장", "cod", "cash", "later"),
    "info": ("소재", "원산지", "세탁", "유통기한", "material", "made", "wash", "origin", "expiry", "재질", "혼용률",
             "fabric"),
    "fit": ("tight", "loose", "narrow", "runs", "한치수", "반치수", "작게", "크게", "끼", "헐렁", "정핏"),
}
CONCEPTS: dict[str, str] = {}
for _concept, _words in _CONCEPTS.items():
    for _w in _words:
        CONCEPTS.setdefault(_w, "~" + _concept)

_EN_STOP = frozenset((
    "a", "an", "the", "i", "me", "my", "mine", "you", "your", "u", "ur", "is", "are", "am", "was", "were",
    "be", "been", "do", "does", "did", "to", "of", "for", "in", "on", "at", "it", "its", "it's", "this",
    "that", "these", "those", "and", "or", "but", "so", "if", "can", "could", "would", "will", "should", "may",
    "might", "i'm", "im", "pls", "please", "plz", "just", "with", "from", "by", "about", "what", "whats",
    "what's", "how", "where", "wheres", "where's", "when", "which", "who", "why", "there", "any", "some",
    "have", "has", "get", "got", "want", "need", "there's", "yet", "still", "like", "would",
))
_KO_STOP = frozenset((
    "하", "되", "이", "있", "없", "주", "수", "것", "거", "좀", "그", "저", "제", "내", "나", "뭐", "어떻",
    "어떻게", "요", "네", "해", "돼", "되나", "가능", "싶", "이런", "그런", "저런", "무슨", "어느",
))
_KEEP_TAGS = ("NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SN", "MAG", "MM", "SH", "NP")


def _en_stem(word: str) -> str:
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)] + repl
    return word


def english_words(text: str) -> list[str]:
    return [w.replace("'", "") for w in _EN_WORD.findall(text)]


def hangul_bigrams(text: str) -> list[str]:
    """Syllable bigrams of each run of Hangul, spaces removed first (``배송 비`` and ``배송비`` alike)."""
    out: list[str] = []
    for run in re.findall(r"[\uac00-\ud7a3]+", text.replace(" ", "")):
        if len(run) == 1:
            out.append("#" + run)
        out.extend("#" + run[i : i + 2] for i in range(len(run) - 1))
    return out


def char_trigrams(words: Iterable[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        padded = f"<{w}>"
        out.extend("%" + padded[i : i + 3] for i in range(len(padded) - 2))
    return out


# --- kiwipiepy, loaded once -------------------------------------------------------------------------------

_USER_WORDS = (
    "재고", "배송비", "택배비", "반품비", "무배", "카카오페이", "네이버페이", "토스페이", "무통장", "가상계좌",
    "현금영수증", "세금계산서", "사이즈표", "적립금", "재입고",
    "선물하기", "상담원", "상담사", "오배송", "착불", "품절", "차액", "무이자", "운송장",
    "정사이즈", "캐시미어", "오버핏", "노이즈캔슬링", "에어프라이어", "로봇청소기", "선크림", "틴트",
    "크로스백", "스니커즈", "러닝화", "바람막이", "폼롤러", "유모차", "킥보드", "물티슈", "누룽지", "스마트워치",
    "공기청정기",
    "이어폰", "헤드폰", "가전제품", "청바지", "반팔티", "클렌징폼", "마스크팩", "파운데이션", "원피스", "스커트",
)
_kiwi: Any = None
_kiwi_lock = threading.Lock()


def kiwi() -> Any:
    """The process's one Kiwi analyser, built on first use and warmed with one analysis so the first
    question does not pay for lazy initialisation. Without the multi-word dictionary (compound proper
    nouns, which shop questions do not need) it holds about 300 MB instead of 490 MB and loads in 3-5 s
    instead of 12 s on this (busy, 2-core) machine; the tuning questions answer the same either way."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi

                # No worker threads: a question is a few words, and the machine's cores serve requests.
                # (kiwipiepy >= 0.21 warns that 0 now means exactly that; it used to mean every core.)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    k = Kiwi(num_workers=0, load_multi_dict=False)
                for word in _USER_WORDS:
                    k.add_user_word(word, "NNG")
                k.tokenize("배송은 언제 와요? 반품하고 싶어요")
                _kiwi = k
    return _kiwi


def korean_morphemes(text: str) -> list[str]:
    """Content morphemes of Korean text, Latin words inside it as English tokens."""
    out: list[str] = []
    for token in kiwi().tokenize(text):
        tag = token.tag
        if not tag.startswith(_KEEP_TAGS):
            continue
        form = token.form.lower()
        if _COMPAT_JAMO.fullmatch(form):
            continue  # ㅠㅠ, ㅋㅋ: tone, not content
        if tag == "SL":
            out.extend(_en_tokens(english_words(form)))
        elif form not in _KO_STOP:
            out.append(form)
    return out


def _en_tokens(words: Iterable[str]) -> list[str]:
    out = []
    for w in words:
        if w in _EN_STOP:
            continue
        out.append(w if w in CONCEPTS else _en_stem(w))
    return out


def with_concepts(tokens: Iterable[str]) -> list[str]:
    out: list[str] = []
    for t in tokens:
        out.append(t)
        concept = CONCEPTS.get(t)
        if concept:
            out.append(concept)
    return out


def content_tokens(text: str) -> list[str]:
    """Words and morphemes (Korean analysed, English stemmed), with the concepts they map to."""
    normalized = normalize(text)
    if not normalized:
        return []
    korean = bool(_HANGUL.search(normalized))
    words = korean_morphemes(normalized) if korean else _en_tokens(english_words(normalized))
    return with_concepts(words)


def fuzzy_tokens(text: str) -> list[str]:
    """Spelling- and spacing-tolerant tokens: Hangul syllable bigrams and English character trigrams."""
    normalized = normalize(text)
    words = [w for w in english_words(re.sub(r"[\uac00-\ud7a3]+", " ", normalized)) if w not in _EN_STOP]
    return hangul_bigrams(normalized) + char_trigrams(words)
