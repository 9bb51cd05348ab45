"""The customer's answer pages behind a signed link (``/s/{token}``, ``/r/{token}``), in Korean and English:
small, self-contained HTML (no script), every value escaped. Pure: strings in, a string out."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["review_form", "survey_form", "thanks", "trouble"]

TEXT: dict[str, dict[str, str]] = {
    "ko": {
        "nps": "저희 쇼핑몰을 친구나 지인에게 추천하실 가능성은 얼마나 되나요?",
        "csat": "이번 경험에 얼마나 만족하셨나요?",
        "low_nps": "전혀 아니다", "high_nps": "매우 그렇다", "low_csat": "매우 불만족", "high_csat": "매우 만족",
        "comment": "이유를 알려 주시면 큰 도움이 됩니다 (선택)", "send": "보내기",
        "thanks": "소중한 의견 감사합니다!", "thanks_review": "리뷰 감사합니다! 검토 후 상품 페이지에 게시됩니다.",
        "review": "상품은 어떠셨나요?", "rating": "별점", "title": "제목 (선택)", "body": "리뷰",
        "expired": "이 링크는 만료되었습니다.", "tampered": "유효하지 않은 링크입니다.",
        "error": "입력을 확인해 주세요.", "order": "주문", "product": "상품",
    },
    "en": {
        "nps": "How likely are you to recommend us to a friend or colleague?",
        "csat": "How satisfied were you with your experience?",
        "low_nps": "Not at all likely", "high_nps": "Extremely likely", "low_csat": "Very dissatisfied",
        "high_csat": "Very satisfied",
        "comment": "What is the main reason for your score? (optional)", "send": "Send",
        "thanks": "Thank you for your feedback!",
        "thanks_review": "Thank you for your review! It will appear on the product page once checked.",
        "review": "How was the product?", "rating": "Rating", "title": "Title (optional)", "body": "Your review",
        "expired": "This link has expired.", "tampered": "This link is not valid.",
        "error": "Please check your answer.", "order": "Order", "product": "Product",
    },
}

_STYLE = """body{font-family:system-ui,'Noto Sans CJK KR',sans-serif;margin:0;padding:24px;background:#f6f7f9;
color:#1d2330}
main{max-width:560px;margin:0 auto;background:#fff;border-radius:12px;padding:24px;box-shadow:0 1px 4px #0002}
h1{font-size:1.2rem;line-height:1.5}.scale{display:flex;flex-wrap:wrap;gap:6px;margin:16px 0 4px}
.scale label{flex:1 0 36px}.scale input{position:absolute;opacity:0}
.scale span{display:block;text-align:center;padding:10px 0;border:1px solid #c6cbd4;border-radius:8px;cursor:pointer}
.scale input:checked+span{background:#2456d6;color:#fff;border-color:#2456d6}
.ends{display:flex;justify-content:space-between;font-size:.8rem;color:#667}
textarea,input[type=text]{width:100%;box-sizing:border-box;margin-top:6px;padding:8px;border:1px solid #c6cbd4;
border-radius:8px;font:inherit}textarea{min-height:110px}
button{margin-top:16px;padding:10px 20px;border:0;border-radius:8px;background:#2456d6;color:#fff;font:inherit}
.error{color:#b3261e}.muted{color:#667;font-size:.9rem}"""


def _lang(language: str | None) -> str:
    return "en" if language == "en" else "ko"


def _page(lang: str, title: str, body: str) -> str:
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{escape(title)}</title><style>{_STYLE}</style></head>'
            f"<body><main>{body}</main></body></html>")


def survey_form(language: str | None, kind: str, *, score: int | None = None, error: str | None = None) -> str:
    lang = _lang(language)
    t = TEXT[lang]
    low, high = (0, 10) if kind == "nps" else (1, 5)
    options = "".join(
        f'<label><input type="radio" name="score" value="{n}" required{" checked" if n == score else ""}>'
        f"<span>{n}</span></label>" for n in range(low, high + 1))
    problem = f'<p class="error" role="alert">{escape(t["error"])} ({escape(error)})</p>' if error else ""
    body = (f"<h1>{escape(t[kind])}</h1>{problem}<form method=\"post\">"
            f'<div class="scale" role="radiogroup">{options}</div>'
            f'<div class="ends"><span>{escape(t["low_" + kind])}</span><span>{escape(t["high_" + kind])}</span></div>'
            f'<p><label>{escape(t["comment"])}<textarea name="comment" maxlength="2000"></textarea></label></p>'
            f'<button type="submit">{escape(t["send"])}</button></form>')
    return _page(lang, t[kind], body)


def review_form(language: str | None, product: dict[str, Any], *, error: str | None = None) -> str:
    lang = _lang(language)
    t = TEXT[lang]
    stars = "".join(f'<label><input type="radio" name="rating" value="{n}" required><span>{"★" * n}</span></label>'
                    for n in range(5, 0, -1))
    about = " · ".join(f"{t[k]} {escape(str(product[k + '_id']))}" for k in ("product", "order")
                       if product.get(k + "_id"))
    problem = f'<p class="error" role="alert">{escape(t["error"])} ({escape(error)})</p>' if error else ""
    body = (f'<h1>{escape(t["review"])}</h1><p class="muted">{about}</p>{problem}<form method="post">'
            f'<div class="scale" role="radiogroup" aria-label="{escape(t["rating"])}">{stars}</div>'
            f'<p><label>{escape(t["title"])}<input type="text" name="title" maxlength="120"></label></p>'
            f'<p><label>{escape(t["body"])}<textarea name="body" maxlength="4000"></textarea></label></p>'
            f'<button type="submit">{escape(t["send"])}</button></form>')
    return _page(lang, t["review"], body)


def thanks(language: str | None, *, review: bool = False) -> str:
    lang = _lang(language)
    text = TEXT[lang]["thanks_review" if review else "thanks"]
    return _page(lang, text, f"<h1>{escape(text)}</h1>")


def trouble(language: str | None, reason: str) -> str:
    lang = _lang(language)
    text = TEXT[lang]["expired" if reason == "expired" else "tampered"]
    return _page(lang, text, f"<h1>{escape(text)}</h1>")
