"""Message templates: save-time validation, sandbox, locale variants, filters, link tracking."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from touchline.errors import ValidationFailed
from touchline.messaging import (
    MessageTemplate,
    TemplateRenderError,
    TemplateSecurityError,
    render_template,
    track_links,
    validate_template,
)
from touchline.messaging.templates import format_date, format_krw, html_to_text

CART = MessageTemplate(
    key="abandoned_cart",
    channel="email",
    default_locale="ko",
    variants={
        "ko": {
            "subject": "{{ profile.traits.name|default('고객') }}님, "
                       "장바구니에 {{ cart.items|length }}개 상품이 있어요",
            "html": "<p>{{ profile.traits.name }}님</p><p>합계 {{ cart.total|krw }}</p>"
                    "<a href=\"{{ cart.url }}\">장바구니 보기</a>",
        },
        "en": {
            "subject": "{{ profile.traits.name|default('there') }}, you left {{ cart.items|length }} items",
            "html": "<p>Total {{ cart.total|krw }}</p>",
            "text": "Total {{ cart.total|krw }}",
        },
    },
)
CONTEXT = {
    "profile": {"id": "p1", "traits": {"name": "김민지"}},
    "cart": {"items": [{"sku": "A"}, {"sku": "B"}], "total": 59000, "url": "https://shop.example/cart"},
}


def _sms(text: str) -> MessageTemplate:
    return MessageTemplate(key="t", channel="sms", variants={"ko": {"text": text}})


# --- validation at save time -----------------------------------------------------------------------

def test_validation_reports_syntax_errors_and_unknown_filters_with_part_locale_and_line() -> None:
    bad = {
        "key": "promo", "channel": "email", "default_locale": "ko",
        "variants": {
            "ko": {"subject": "{{ profile.traits.name|shout }}", "html": "<p>hello</p>\n<p>{% if %}</p>"},
            "en": {"subject": "ok", "text": "{{ unclosed "},
        },
    }
    with pytest.raises(ValidationFailed) as caught:
        validate_template(bad)
    detail = caught.value.detail
    by_field = {d["field"]: d for d in detail}
    assert by_field["variants.ko.subject"]["reason"] == "No filter named 'shout'."
    assert by_field["variants.ko.subject"]["line"] == 1
    assert by_field["variants.ko.html"]["line"] == 2
    assert "variants.en.text" in by_field
    assert caught.value.status == 422
    assert caught.value.to_body()["detail"] == detail


def test_validation_checks_structure() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_template({"key": "x", "channel": "push", "default_locale": "en",
                           "variants": {"ko": {"title": "t", "sound": "ding"}}})
    fields = {d["field"] for d in caught.value.detail}
    assert fields == {"default_locale", "variants.ko.body", "variants.ko.sound"}
    with pytest.raises(ValidationFailed) as caught:
        validate_template({"key": "x", "channel": "fax", "variants": {}})
    assert caught.value.detail[0]["field"] == "channel"


def test_validation_compiles_messenger_params() -> None:
    tpl = {"key": "ship", "channel": "messenger",
           "variants": {"ko": {"text": "배송 시작", "template_code": "ORDER_SHIPPED",
                               "params": {"name": "{{ profile.traits.name }}", "bad": "{{ x|nope }}"}}}}
    with pytest.raises(ValidationFailed) as caught:
        validate_template(tpl)
    assert caught.value.detail == [{"field": "variants.ko.params.bad", "reason": "No filter named 'nope'.", "line": 1}]
    del tpl["variants"]["ko"]["params"]["bad"]
    rendered = validate_template(tpl).render(CONTEXT, locale="ko-KR")
    assert rendered.template_code == "ORDER_SHIPPED"
    assert rendered.params == {"name": "김민지"}


# --- rendering ---------------------------------------------------------------------------------------

def test_korean_customer_gets_ko_variant_english_gets_en_others_the_default() -> None:
    compiled = validate_template(CART)
    ko = compiled.render(CONTEXT, locale="ko-KR")
    assert ko.locale == "ko"
    assert ko.subject == "김민지님, 장바구니에 2개 상품이 있어요"
    assert "합계 59,000원" in ko.html
    en = compiled.render(CONTEXT, locale="en_US")
    assert (en.locale, en.subject, en.text) == ("en", "김민지, you left 2 items", "Total ₩59,000")
    assert compiled.render(CONTEXT, locale="ja-JP").locale == "ko"
    assert compiled.render(CONTEXT, locale=None).locale == "ko"


def test_text_part_is_generated_from_html_when_missing() -> None:
    rendered = validate_template(CART).render(CONTEXT, locale="ko")
    assert rendered.text == "김민지님\n\n합계 59,000원\n장바구니 보기 (https://shop.example/cart)"
    assert html_to_text("<style>p{}</style><ul><li>a &amp; b</li><li>c</li></ul>") == "- a & b\n\n- c"


def test_undefined_variables_render_empty_and_default_filter_works() -> None:
    rendered = validate_template(CART).render({}, locale="ko")
    assert rendered.subject == "고객님, 장바구니에 0개 상품이 있어요"
    assert "<p>님</p>" in rendered.html
    text = render_template(_sms("[{{ event.properties.order.id }}]{{ profile.traits.name|default('고객', true) }}"),
                           {"profile": {"traits": {"name": ""}}})
    assert text.text == "[]고객"


def test_only_html_is_escaped() -> None:
    context = {"profile": {"traits": {"name": "<script>alert(1)</script>"}}, "cart": {"total": 1}}
    rendered = validate_template(CART).render(context, locale="ko")
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert rendered.subject.startswith("<script>alert(1)</script>님")  # a subject is not HTML
    assert render_template(_sms("{{ profile.traits.name }}"), context).text == "<script>alert(1)</script>"


def test_subject_is_one_line() -> None:
    rendered = validate_template(CART).render({"profile": {"traits": {"name": "a\r\nBcc: x@y"}}}, locale="ko")
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


@pytest.mark.parametrize("source", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ profile.__class__ }}",
    "{{ '{0.__class__}'.format(profile) }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ profile.traits.update({'vip': true}) }}",
    "{{ 'x' * 10000000 }}",
])
def test_sandbox_escape_is_blocked_loudly(source: str) -> None:
    compiled = validate_template(_sms(source))  # valid syntax: caught when rendering
    with pytest.raises(TemplateSecurityError) as caught:
        compiled.render(CONTEXT)
    assert caught.value.detail[0]["field"] == "variants.ko.text"
    assert isinstance(caught.value, TemplateRenderError)


def test_dots_read_data_not_dict_methods() -> None:
    text = render_template(_sms("{{ cart.items|length }}|{{ cart.keys }}|{% for k, v in cart|items %}{{ k }}={{ v }}"
                                "{% endfor %}"), {"cart": {"total": 1}})
    assert text.text == "0||total=1"


def test_runtime_errors_name_the_part() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render_template(_sms("{{ cart.total / 0 }}"), CONTEXT)
    assert caught.value.detail[0]["reason"] == "ZeroDivisionError"


# --- filters -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "locale", "expected"), [
    (59000, "ko", "59,000원"),
    (59000, "en", "₩59,000"),
    (59000, "ko-KR", "59,000원"),
    ("1234567", "ko", "1,234,567원"),
    (1234.5, "en", "₩1,235"),
    (-3000, "ko", "-3,000원"),
    (0, "en", "₩0"),
    ("n/a", "ko", "n/a"),
    (None, "ko", ""),
    (float("nan"), "ko", "nan"),
])
def test_krw(value: object, locale: str, expected: str) -> None:
    assert format_krw(value, locale) == expected


def test_krw_filter_follows_the_chosen_variant() -> None:
    tpl = MessageTemplate(key="t", channel="sms", default_locale="ko",
                          variants={"ko": {"text": "{{ 59000|krw }}"}, "en": {"text": "{{ 59000|krw }}"}})
    compiled = validate_template(tpl)
    assert compiled.render({}, locale="ko-KR").text == "59,000원"
    assert compiled.render({}, locale="en-GB").text == "₩59,000"


def test_date_filter_uses_the_customers_time_zone() -> None:
    tpl = MessageTemplate(key="t", channel="sms", default_locale="ko", variants={
        "ko": {"text": "{{ event.at|date }} / {{ event.at|date('date') }} / {{ event.at|date('%H시') }}"},
        "en": {"text": "{{ event.at|date }}"},
    })
    compiled = validate_template(tpl)
    context = {"event": {"at": "2024-05-03T13:30:00Z"}}
    assert compiled.render(context, locale="ko", timezone="Asia/Seoul").text == \
        "2024년 5월 3일 22:30 / 2024년 5월 3일 / 22시"
    assert compiled.render(context, locale="en", timezone="America/New_York").text == "May 3, 2024 09:30"
    assert format_date(dt.datetime(2024, 5, 3, 13, 30), "time", timezone="Asia/Seoul") == "22:30"  # naive = UTC
    assert format_date(dt.date(2024, 5, 3), "date", locale="en", timezone="Pacific/Kiritimati") == "May 3, 2024"
    assert format_date("not a date", locale="ko") == "not a date"


# --- property: arbitrary traits never break rendering, HTML stays escaped ------------------------------

_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.decimals(),
                  st.datetimes(), st.dates())
_value = st.recursive(_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                      max_leaves=8)
_traits = st.dictionaries(st.sampled_from(["name", "total", "tier", "joined", "x"]), _value)
_PROP = validate_template(MessageTemplate(key="p", channel="email", variants={"ko": {
    "subject": "{{ profile.traits.name }} {{ profile.traits.x.y.z }}",
    "html": "<p>{{ profile.traits.name }}</p><p>{{ profile.traits.total|krw }}</p>"
            "<p>{{ profile.traits.joined|date }}</p><p>{{ profile.traits.tier|default('basic') }}</p>"
            "<i>{{ profile.traits.x|length if profile.traits.x is iterable else 0 }}</i>"
            "{% if profile.traits.x is iterable %}{% for k in profile.traits.x %}<i>{{ k }}</i>{% endfor %}{% endif %}",
}}))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(traits=_traits, tz=st.sampled_from([None, "Asia/Seoul", "America/New_York", "Not/AZone"]))
def test_rendering_arbitrary_traits_never_raises_and_escapes_html(traits: dict, tz: str | None) -> None:
    rendered = _PROP.render({"profile": {"id": "p", "traits": traits}}, locale="ko-KR", timezone=tz)
    name = traits.get("name")
    if isinstance(name, str):
        assert f"<p>{escape(name)}</p>" in rendered.html
    # Every tag in the output is one the template wrote: the values added none.
    tags = [t.split(">")[0].split()[0].strip("/") for t in rendered.html.split("<")[1:]]
    assert set(tags) <= {"p", "i"}
    assert html.unescape(rendered.text) is not None


# --- link tracking -------------------------------------------------------------------------------------

def test_track_links_rewrites_http_links_and_adds_open_pixel() -> None:
    source = ('<html><body><a href="https://shop.example/p/1?utm=a&amp;x=1">상품</a>'
              "<a href='mailto:help@shop.example'>문의</a> <A class=btn HREF=https://shop.example/sale>세일</A>"
              '<a href="https://shop.example/unsub">수신거부</a><a data-notrack href="https://x.example">x</a>'
              '<a href="#top">top</a></body></html>')
    tracked = track_links(source, base_url="https://t.shop.example/", message_id="run-1:step-2:email",
                          skip=["https://shop.example/unsub"])
    assert tracked.links == ("https://shop.example/p/1?utm=a&x=1", "https://shop.example/sale")
    assert '<a href="https://t.shop.example/t/c/run-1%3Astep-2%3Aemail/0">상품</a>' in tracked.html
    assert '<A class=btn HREF="https://t.shop.example/t/c/run-1%3Astep-2%3Aemail/1">세일</A>' in tracked.html
    for untouched in ("mailto:help@shop.example", 'href="https://shop.example/unsub"', 'href="https://x.example"',
                      'href="#top"'):
        assert untouched in tracked.html
    assert tracked.html.endswith(
        '<img src="https://t.shop.example/t/o/run-1%3Astep-2%3Aemail.gif" width="1" height="1" alt="" '
        'style="display:none;border:0"></body></html>')
    # pure: same input, same output; no pixel when asked
    assert track_links(source, base_url="https://t.shop.example", message_id="run-1:step-2:email",
                       skip=["https://shop.example/unsub"]) == tracked
    assert "<img" not in track_links("<p>x</p>", base_url="https://t", message_id="m", open_pixel=False).html
