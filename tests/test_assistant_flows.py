"""The return/exchange flow's pure steps: the order read from what the customer writes, the steps in order,
"no" closing it, and any text never raising."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from touchline.assistant import flows


def test_the_order_is_read_as_customers_write_it() -> None:
    known = ["HM-1002", "HM-1001"]
    assert flows.order_in("hm1002 이요", known) == "HM-1002"
    assert flows.order_in("주문번호 HM-1001 입니다", known) == "HM-1001"
    assert flows.order_in("주문번호: 20240512001") == "20240512001"
    assert flows.order_in("ORD-2024-0001 that one") == "ORD-2024-0001"
    assert flows.order_in("I want to return my order because it is big") is None
    assert flows.order_in("M 사이즈 2개") is None


def test_the_steps_in_order() -> None:
    offered = flows.offer("returns", "en")
    assert offered is not None and offered.step == flows.ASK_ORDER and offered.kind == "return"
    assert flows.offer("shipping", "en") is None
    asked = flows.advance("return", flows.ASK_ORDER, "it's HM-1002", "en", known_orders=["HM-1002"])
    assert asked is not None and asked.step == flows.ASK_REASON and asked.order == "HM-1002"
    assert asked.state == "return:reason:HM-1002"
    done = flows.advance("return", flows.ASK_REASON, "too small", "en", order="HM-1002")
    assert done is not None and done.hands_over and done.order == "HM-1002" and done.reason == "too small"
    assert "HM-1002" in done.note() and "too small" in done.note()
    listed = flows.advance("exchange", flows.ASK_ORDER, "I don't know the number", "en", known_orders=["HM-9"])
    assert listed is not None and listed.step == flows.ASK_ORDER and "HM-9" in listed.text
    assert flows.advance("return", flows.ASK_ORDER, "what are your store hours?", "en") is None
    closed = flows.advance("return", flows.ASK_REASON, "never mind", "en", order="HM-1002")
    assert closed is not None and closed.step == flows.CLOSED and not closed.hands_over


@given(st.sampled_from(flows.KINDS), st.sampled_from(flows.OPEN_STEPS), st.text(max_size=200),
       st.sampled_from(["ko", "en", "ja"]), st.none() | st.text(max_size=40))
def test_any_message_gives_a_turn_or_none(kind: str, step: str, message: str, language: str,
                                          order: str | None) -> None:
    turn = flows.advance(kind, step, message, language, order=order, known_orders=["HM-1"])
    if turn is not None:
        assert turn.text and turn.language in ("ko", "en") and turn.step in (*flows.OPEN_STEPS, flows.DONE,
                                                                              flows.CLOSED)


def test_kakao_shows_the_quick_replies_within_its_limits() -> None:
    from touchline.conversations.inbound import kakao

    answer = kakao.answer("반품 사유를 알려 주세요.", ["사이즈가 맞지 않아요", "상품에 문제가 있어서 반품하고 싶어요"])
    replies = answer["template"]["quickReplies"]
    assert [r["messageText"] for r in replies] == ["사이즈가 맞지 않아요", "상품에 문제가 있어서 반품하고 싶어요"]
    assert all(len(r["label"]) <= 14 and r["action"] == "message" for r in replies)
    assert "quickReplies" not in kakao.answer("안녕하세요")["template"]
