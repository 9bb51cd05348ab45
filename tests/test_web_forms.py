"""The dashboard's pure parts: the segment builder, message catalogue and value formatting."""

from __future__ import annotations

import datetime as dt

import pytest

from touchline.segments.templates import TEMPLATES
from touchline.segments.validate import parse
from touchline.web import forms
from touchline.web.i18n import MESSAGES, Formatter, choose_language, choose_locale


def test_builder_rows_make_valid_definitions_and_read_back() -> None:
    form = {
        "match": "or",
        "c-0-kind": "trait", "c-0-trait": "address.city", "c-0-operator": "=", "c-0-value": "서울특별시",
        "c-3-kind": "event", "c-3-event": "Order Completed", "c-3-count_op": "at_least", "c-3-count": "2",
        "c-3-within_days": "90",
        "c-4-kind": "no_event", "c-4-event": "Order Completed", "c-4-within_days": "60",
        "c-5-kind": "computed", "c-5-field": "lifetime_value", "c-5-operator": ">=", "c-5-value": "100000",
        "c-6-kind": "reachable", "c-6-channel": "sms",
        "c-7-kind": "trait", "c-7-trait": "",  # blank: dropped
        "c-8-kind": "trait", "c-8-trait": "tier", "c-8-operator": "in", "c-8-value": "gold, vip",
    }
    builder = forms.builder_from_form(form)
    definition = forms.definition_of(builder)
    assert definition is not None and definition["type"] == "or" and len(definition["children"]) == 6
    assert definition["children"][1] == {"type": "event", "event": "Order Completed",
                                         "count": {"operator": "at_least", "value": 2}, "within_days": 90}
    assert definition["children"][3]["value"] == 100000
    assert definition["children"][5]["value"] == ["gold", "vip"]
    parse(definition)  # valid
    again = forms.builder_of(definition)
    assert again is not None and forms.definition_of(again) == definition


def test_builder_declines_what_it_cannot_show() -> None:
    assert forms.builder_of(TEMPLATES["cart_abandoners"]) is None  # sequence_absence: JSON only
    assert forms.builder_of(TEMPLATES["at_risk"]) is not None
    assert forms.definition_of(forms.Builder()) is None


def test_every_message_has_both_languages() -> None:
    for key, (en, ko) in MESSAGES.items():
        assert en and ko, key
        assert en.count("{") == ko.count("{"), key


@pytest.mark.parametrize(("lang", "krw", "gbp", "day"), [("en", "₩12,300", "£12,300.50", "Jun 1, 2025"),
                                                         ("ko", "12,300원", "£12,300.50", "2025. 6. 1.")])
def test_formatting(lang: str, krw: str, gbp: str, day: str) -> None:
    f = Formatter(lang, choose_locale(lang, None), "Asia/Seoul")
    assert f.money(12300) == krw
    assert Formatter(lang, choose_locale(lang, None), "Asia/Seoul", "GBP").money(12300.5) == gbp
    assert f.date(dt.datetime(2025, 5, 31, 20, tzinfo=dt.UTC)) == day  # 05:00 on 1 June in Seoul
    assert f.t("kpi.visitors") == ("Visitors" if lang == "en" else "방문자")


def test_language_choice() -> None:
    assert choose_language(None, None, "ko-KR,ko;q=0.9,en;q=0.8") == "ko"
    assert choose_language("en", "ko", "ko-KR") == "en"
    assert choose_language("xx", None, "fr-FR") == "en"
    assert str(choose_locale("en", "en-GB,en;q=0.9")) == "en_GB"
