"""Feedback's pure cores: the NPS and its interval against an independent computation (numpy over the
answers themselves), CSAT's Wilson interval against SciPy's, signed links, and the profanity filter in
Korean and English (what it must catch, and ordinary shop words it must leave alone)."""

from __future__ import annotations

import contextlib
import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.feedback import signing, stats
from touchline.feedback.profanity import find_profanity

NOW = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10), min_size=stats.MIN_ANSWERS, max_size=400))
def test_nps_matches_the_mean_and_standard_error_of_the_answers(scores: list[int]) -> None:
    values = np.array([1 if s >= 9 else -1 if s <= 6 else 0 for s in scores], dtype=float)
    expected = values.mean() * 100
    expected_margin = stats.Z95 * values.std(ddof=0) / np.sqrt(len(values)) * 100
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    summary = stats.nps(promoters, len(scores) - promoters - detractors, detractors)
    assert summary.score == pytest.approx(expected, abs=1e-9)
    assert summary.margin == pytest.approx(expected_margin, abs=1e-9)
    assert summary.low == pytest.approx(max(expected - expected_margin, -100), abs=1e-9)
    assert summary.high == pytest.approx(min(expected + expected_margin, 100), abs=1e-9)
    assert -100 <= summary.low <= summary.score <= summary.high <= 100  # type: ignore[operator]


def test_nps_worked_example_and_small_samples() -> None:
    # 50 promoters, 30 passives, 20 detractors: NPS 30; SE = sqrt((0.5 + 0.2 - 0.09) / 100) = 0.0781.
    summary = stats.nps(50, 30, 20)
    assert summary.score == pytest.approx(30.0)
    assert summary.margin == pytest.approx(1.959964 * 7.8102, abs=1e-3)
    assert stats.nps(2, 1, 0).low is None  # too few answers for an interval
    assert stats.nps(0, 0, 0).score is None
    assert [stats.nps_category(s) for s in (0, 6, 7, 8, 9, 10)] == \
        ["detractor", "detractor", "passive", "passive", "promoter", "promoter"]
    with pytest.raises(ValueError):
        stats.nps_category(11)


@pytest.mark.parametrize(("satisfied", "answers"), [(0, 10), (7, 10), (10, 10), (123, 456)])
def test_csat_wilson_interval_matches_scipy(satisfied: int, answers: int) -> None:
    from scipy.stats import binomtest

    interval = binomtest(satisfied, answers).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = interval.low, interval.high
    summary = stats.csat(satisfied, answers)
    assert summary.low == pytest.approx(low * 100, abs=1e-6)
    assert summary.high == pytest.approx(high * 100, abs=1e-6)


def test_signed_links_refuse_tampering_and_expire() -> None:
    claims = signing.LinkClaims(kind="survey", workspace_id="ws_1", profile_id="p1",
                                expires_at=NOW + dt.timedelta(days=1), survey="nps", survey_kind="nps")
    token = signing.sign(claims, "secret")
    assert signing.verify(token, "secret", NOW) == claims
    with pytest.raises(signing.LinkRefused, match="tampered"):
        signing.verify(token, "another secret", NOW)
    payload, mac = token.split(".")
    with pytest.raises(signing.LinkRefused, match=r"tampered|malformed"):  # a changed byte may break the JSON
        signing.verify(f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}", "secret", NOW)
    with pytest.raises(signing.LinkRefused, match="expired"):
        signing.verify(token, "secret", NOW + dt.timedelta(days=1))
    for bad in ("", "a.b.c", "!!!.x", "x" * 2000):
        with pytest.raises(signing.LinkRefused):
            signing.verify(bad, "secret", NOW)


@given(st.text(max_size=300))
def test_verify_never_fails_otherwise_than_refusing(token: str) -> None:
    with contextlib.suppress(signing.LinkRefused):
        signing.verify(token, "secret", NOW)


@pytest.mark.parametrize(("text", "terms"), [
    ("이 씨발 제품", {"씨발"}), ("씨발놈아 진짜", {"씨발"}), ("개새끼야 환불해", {"개새끼"}),
    ("병신같은 배송", {"병신"}),
    ("씨 발 진짜", {"씨발"}), ("씨1발", {"씨발"}), ("ㅅㅂ 배송 느려", {"ㅅㅂ"}), ("좆같네", {"좆"}),
    ("This is shit", {"shit"}), ("fuck this", {"fuck"}), ("What a f*cking mess", {"fucking"}),
])
def test_profanity_is_found(text: str, terms: set[str]) -> None:
    assert terms <= {f["term"] for f in find_profanity(text)}


@pytest.mark.parametrize("text", [
    "배송이 빠르고 좋아요", "시발점이 좋네요", "미친 가격이에요 최고", "주문 시 발송됩니다", "유리병 신기해요",
    "Scunthorpe is a town", "The assessment was great", "Great value, would buy again", "",
])
def test_ordinary_words_pass(text: str) -> None:
    assert find_profanity(text) == []
