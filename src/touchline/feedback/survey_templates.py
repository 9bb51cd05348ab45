"""The survey messages a journey's survey step sends when it names no template of its own: ``survey-nps``
(0-10) and ``survey-csat`` (1-5), on every channel a survey can go out on, in Korean and English.

- e-mail: a one-click button per score (the link records the answer; the page then asks for a comment);
- SMS, push and in-app: the question and the customer's signed link to the answer page;
- messenger (KakaoTalk AlimTalk, WhatsApp): the question as text, and the links as template parameters
  (``survey_url``; for CSAT also ``score_1`` ... ``score_5``) for the buttons of the template Kakao approved
  (AlimTalk allows five: a CSAT's scores, or one button to the page for NPS). Its ``template_code`` is the
  shop's to fill in once Kakao approves it.

They are transactional (a survey about an order the customer made is not advertising) and use only
``survey`` (the step's survey name and scale) and ``survey_link`` (:mod:`touchline.feedback.service`).
The journey's publication copies them into the workspace, where the marketer edits them like any other.
"""

from __future__ import annotations

from touchline.channels import CHANNEL_PARTS, CONSENT_CHANNELS
from touchline.messaging.builtin import BuiltinTemplate

__all__ = ["BUILTIN_SURVEY_TEMPLATES"]

_LINK = "{{ survey_link(survey.name, survey.scale) }}"

_QUESTION = {
    "nps": {"ko": "저희 쇼핑몰을 친구나 지인에게 추천하실 가능성은 얼마나 되나요?",
            "en": "How likely are you to recommend us to a friend or colleague?"},
    "csat": {"ko": "최근 주문은 만족스러우셨나요?", "en": "How satisfied are you with your recent order?"},
}
_HOW = {
    "nps": {"ko": "0점(전혀 아니다)부터 10점(매우 그렇다)까지 점수를 눌러 주세요.",
            "en": "Pick a score from 0 (not at all likely) to 10 (extremely likely)."},
    "csat": {"ko": "1점(매우 불만족)부터 5점(매우 만족)까지 점수를 눌러 주세요.",
             "en": "Pick a score from 1 (very dissatisfied) to 5 (very satisfied)."},
}
_SCORES = {"nps": (0, 10), "csat": (1, 5)}
_GREETING = {"ko": "{% if profile.traits.name %}{{ profile.traits.name }}님, {% endif %}",
             "en": "{% if profile.traits.name %}Hi {{ profile.traits.name }}! {% endif %}"}
_TITLE = {"ko": "잠깐 설문에 답해 주시겠어요?", "en": "A quick question for you"}
_ONE_TAP = {"ko": "한 번 누르면 답변이 저장되고, 의견을 남기실 수 있어요. 감사합니다!",
            "en": "One tap records your answer; you can add a comment after. Thank you!"}
_ANSWER = {"ko": "답변하기", "en": "Answer"}


def _buttons(scale: str) -> str:
    low, high = _SCORES[scale]
    cell = ('<td style="padding:2px"><a href="{{ survey_link(survey.name, survey.scale, score=n) }}" '
            'style="display:inline-block;min-width:28px;padding:8px 4px;border:1px solid #c7ccd6;border-radius:6px;'
            'text-align:center;text-decoration:none;color:#1f2937;font-weight:600">{{ n }}</a></td>')
    return (f'<table role="presentation" cellspacing="0" cellpadding="0"><tr>'
            f"{{% for n in range({low}, {high + 1}) %}}{cell}{{% endfor %}}</tr></table>")


def _email(scale: str, lang: str) -> dict[str, str]:
    question, how = _QUESTION[scale][lang], _HOW[scale][lang]
    return {
        "subject": _TITLE[lang],
        "html": (f"<p>{_GREETING[lang]}{question}</p><p>{how}</p>{_buttons(scale)}"
                 f'<p style="color:#6b7280">{_ONE_TAP[lang]}</p>'),
        "text": f"{_GREETING[lang]}{question}\n{how}\n{_LINK}",
    }


def _short(scale: str, lang: str) -> str:
    return f"{_GREETING[lang]}{_QUESTION[scale][lang]} {_HOW[scale][lang]}"


def _messenger_params(scale: str) -> dict[str, str]:
    params = {"survey_url": _LINK}
    if scale == "csat":  # five scores fit the five buttons an AlimTalk template may have
        params |= {f"score_{n}": f"{{{{ survey_link(survey.name, survey.scale, score={n}) }}}}" for n in range(1, 6)}
    return params


def _variants(scale: str, channel: str) -> dict[str, dict[str, object]]:
    """The survey on ``channel`` in the shape its parts ask for (the channel registry's ``CHANNEL_PARTS``)."""
    required, optional = CHANNEL_PARTS[channel]
    out: dict[str, dict[str, object]] = {}
    for lang in ("ko", "en"):
        if "subject" in required:  # e-mail
            out[lang] = dict(_email(scale, lang))
        elif "title" in required:  # push, in-app
            out[lang] = {"title": _TITLE[lang], "body": _short(scale, lang), "url": _LINK}
        else:  # a text: SMS, and the messenger with its template's parameters
            out[lang] = {"text": f"{_short(scale, lang)}\n{_LINK}"}
            if "params" in optional:
                out[lang]["params"] = _messenger_params(scale)
    return out


# Every channel a customer consents to (a survey asks the customer, not the shop's webhook).
BUILTIN_SURVEY_TEMPLATES: tuple[BuiltinTemplate, ...] = tuple(
    BuiltinTemplate(f"survey-{scale}", channel, _variants(scale, channel))
    for scale in ("nps", "csat") for channel in CONSENT_CHANNELS)
