"""The shop assistant's answering core (issue 15): text handling, the intent rules, and the question set.

The question set (tests/data/assistant_questions.yaml) has a tuning part and a held-out part at least as
large; the held-out figures are asserted against the issue's targets where they are met, and as floors
(named as such) where they are not. The held-out questions (v7, 3,399) were written blind to the engine
(without reading its code or running it on them) and were never used to tune (the file's header tells the
history: six earlier held-out batches were run, then spent as tuning data).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchline.assistant.engine import INTENTS, Assistant
from touchline.assistant.evaluate import ANSWERABLE, Report, evaluate
from touchline.assistant.intents import is_order_status, is_out_of_scope, is_smalltalk, wants_person
from touchline.assistant.knowledge import Knowledge, KnowledgeError, load_faq, seed_faq
from touchline.assistant.text import content_tokens, detect_language, hangul_bigrams, normalize
from touchline.demo.shop_assistant import demo_knowledge, demo_products

QUESTIONS = Path(__file__).parent / "data" / "assistant_questions.yaml"


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    return Assistant(demo_knowledge())


@pytest.fixture(scope="module")
def questions() -> list[dict[str, Any]]:
    return yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))


def _category_of() -> Any:
    categories = {p.id: p.category for p in demo_products()}
    return categories.get


@pytest.fixture(scope="module")
def heldout(assistant: Assistant, questions: list[dict[str, Any]]) -> Report:
    return evaluate(assistant, [q for q in questions if q["split"] == "heldout"], _category_of())


# --- text --------------------------------------------------------------------------------------------


def test_normalize_folds_width_case_controls_and_repeats() -> None:
    assert normalize("  ＡＢＣ　배송\x00비?????  ") == "abc 배송 비??"
    assert normalize("ㅠㅠㅠㅠ 반품") == "ㅠㅠ 반품"  # compatibility jamo stay jamo (NFKC would decompose them)
    assert normalize("") == ""
    assert len(normalize("가" * 10_000)) <= 500


def test_detect_language() -> None:
    assert detect_language("반품 어떻게 해요") == "ko"
    assert detect_language("where is my order") == "en"
    assert detect_language("M size 재고 있나요") == "ko"  # Korean around product words
    assert detect_language("이 니트 M 사이즈 있어요?") == "ko"
    assert detect_language("cashmere knit 있어요?") == "ko"
    assert detect_language("ㅠㅠ") == "ko"
    assert detect_language("🙂🙂", default="en") == "en"
    assert detect_language("12345") == "ko"


def test_korean_tokens_keep_content_and_survive_spacing() -> None:
    assert "반품" in content_tokens("반품할래요")
    assert "반품" in content_tokens("반품은 어떻게 하나요?")
    spaced, unspaced = set(hangul_bigrams("배송 기간 얼마나")), set(hangul_bigrams("배송기간얼마나"))
    assert spaced == unspaced
    # Korean and English words meet in shared concepts
    assert "~return" in content_tokens("반품") and "~return" in content_tokens("return")


def test_faq_yaml_checks() -> None:
    with pytest.raises(KnowledgeError):
        load_faq("- id: x\n  topic: t\n  ko: {q: [a], a: ''}\n")
    with pytest.raises(KnowledgeError):
        load_faq("- {id: x, topic: t, ko: {q: [a], a: b}}\n- {id: x, topic: t, ko: {q: [a], a: b}}\n")
    faq = seed_faq()
    ids = {e.id for e in faq}
    assert len(ids) >= 40
    assert all({e.language for e in faq if e.id == i} == {"ko", "en"} for i in ids)


# --- handover: every explicit request for a person, in the same turn -------------------------------------

HANDOVER = [
    "상담원 연결", "상담원 연결해주세요", "상담원연결요", "상담사 연결 부탁드립니다", "사람이랑 얘기할래요",
    "사람이랑 이야기하고 싶어요", "사람 연결해줘", "사람하고 통화하고 싶어요", "진짜 사람 있어요?",
    "실제 사람이랑 대화", "챗봇 말고 사람", "봇 말고 사람이요", "직원분 계세요?", "직원 연결해 주세요",
    "담당자 바꿔주세요", "매니저 불러주세요",
    "상담원이요", "상 담 원 연 결", "상담사님이랑 통화 원해요", "전화 상담 원해요", "AI 말고 상담원",
    "talk to a human", "agent please", "Agent", "human please", "HUMAN!!!", "can i speak to a real person",
    "I want to talk to someone", "connect me to customer service", "transfer me to a live agent",
    "let me talk to an agent", "real person please", "representative", "I need a human not a bot",
    "get me a manager", "speak with a representative", "is there a real human i can chat with", "operator",
    "no more bots", "talk to an actual person", "is there a human i can talk to", "put me through to customer support",
    "someone please help", "상담 연결해 주세요", "전화로 상담하고 싶어요", "관리자 바꿔주세요", "사람이 답해주세요",
]
NOT_HANDOVER = [
    "고객센터 전화번호 알려줘", "고객센터 운영시간", "상담 가능한 시간이 언제예요?", "customer service hours",
    "what is your phone number", "반품 어떻게 해요", "where is my order", "is the smartwatch available",
    "customer support phone number", "can i send it to someone else", "a gift for my manager",
    "is this good for people with sensitive skin", "can someone else pick up my order",
    "다른 사람한테 선물로 보내고 싶어요",
    "does support team answer on weekends",
]


@pytest.mark.parametrize("text", HANDOVER)
def test_explicit_requests_for_a_person_hand_over(assistant: Assistant, text: str) -> None:
    reply = assistant.answer(text)
    assert reply.handover and reply.intent == "handover" and reply.confident


@pytest.mark.parametrize("text", NOT_HANDOVER)
def test_questions_that_mention_service_do_not_hand_over(text: str) -> None:
    assert not wants_person(normalize(text))


def test_rules() -> None:
    assert is_smalltalk(normalize("고마워요 ㅎㅎ")) and is_smalltalk(normalize("hi there"))
    assert not is_smalltalk(normalize("안녕하세요 반품 문의요"))
    assert is_order_status(normalize("어제 시킨거 아직 출발 안했나요"))
    assert is_order_status(normalize("where's my package"))
    assert not is_order_status(normalize("오늘 주문하면 언제 받아요"))  # a policy question, asked before buying
    assert not is_order_status(normalize("how can i track my parcel"))
    assert not is_order_status(normalize("새벽배송 지역 어디예요"))
    assert is_order_status(normalize("내 주문 어떻게 됐어요")) and is_order_status(normalize("any update on my order?"))
    assert is_order_status(normalize("제 물건 발송됐나요"))
    assert is_order_status(normalize("check order 20261203-0199 pls"))
    assert not is_order_status(normalize("다른 사이즈가 배송됐어요"))  # a wrong item: the FAQ's
    assert not is_order_status(normalize("where do i see my order number"))
    for playful in ("안녕하세용", "감사합니당", "감사합니다아", "안뇽", "heyyy", "hellooo", "byee", "좋은 하루 되세요"):
        assert is_smalltalk(normalize(playful)), playful
    assert is_out_of_scope(normalize("김치찌개 끓이는법 알려줘"))
    assert is_out_of_scope(normalize("is it going to rain today"))
    assert not is_out_of_scope(normalize("rain boots for kids?")) and not is_out_of_scope(normalize("김치 얼마예요"))
    assert not is_out_of_scope(normalize("my discount code isnt working"))


# --- answers -----------------------------------------------------------------------------------------


def test_answers_carry_what_the_caller_needs(assistant: Assistant) -> None:
    reply = assistant.answer("반품 어떻게 해요")
    assert (reply.intent, reply.faq_id, reply.topic, reply.language) == ("faq", "return_how", "returns", "ko")
    assert reply.confident and "7일" in reply.text
    reply = assistant.answer("How do I return something?", language="en")
    assert reply.faq_id == "return_how" and "7 days" in reply.text
    reply = assistant.answer("이 니트 M 사이즈 있어요?")
    assert reply.intent == "product" and reply.option == "M" and reply.product_ids
    assert all("니트" in p.name for p in demo_products() if p.id in reply.product_ids)
    assert "원" in reply.text
    reply = assistant.answer("주문번호 20261201-0042 어디쯤 왔어요?")
    assert reply.intent == "order_status" and reply.order_number == "20261201-0042"
    unsure = assistant.answer("비트코인 시세 알려줘")
    assert not unsure.confident and unsure.offer_handover and not unsure.handover


def test_an_empty_knowledge_answers_nothing_confidently() -> None:
    bot = Assistant(Knowledge(faq=()))
    for text in ("반품 어떻게 해요", "where is my order", "니트 있어요?"):
        reply = bot.answer(text)
        assert reply.intent in INTENTS
    assert not bot.answer("반품 어떻게 해요").confident


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFFF), max_size=60),
    st.sampled_from(["", "\x00", "\x00반품\x00", "🙂" * 50, "가" * 10_000, "a " * 5_000, "ㅋ" * 3000, "\ud7a3" * 9,
                     "상담원" * 1000, "?" * 500, "\u200b\u200b", "𝓱𝓾𝓶𝓪𝓷 please"]),
))
def test_answer_never_raises(assistant: Assistant, text: str) -> None:
    reply = assistant.answer(text)
    assert reply.intent in INTENTS
    assert 0.0 <= reply.confidence <= 1.0
    assert reply.language in ("ko", "en")
    assert isinstance(reply.text, str)


# --- the question set --------------------------------------------------------------------------------


def test_question_set_shape(questions: list[dict[str, Any]]) -> None:
    assert len(questions) >= 300
    heldout = [q for q in questions if q["split"] == "heldout"]
    assert len(heldout) >= 150
    assert len(heldout) >= len(questions) - len(heldout)  # held out: at least half of the set
    faq_ids = {e.id for e in seed_faq()}
    products = {p.id for p in demo_products()}
    for q in questions:
        assert q["language"] in ("ko", "en") and q["split"] in ("tune", "heldout")
        assert q["intent"] in ("faq", "product", "order_status", "handover", "smalltalk", "none")
        if q["intent"] == "faq":
            assert q["faq"] in faq_ids
        if q["intent"] == "product":
            assert set(q.get("products") or ()) <= products and (q.get("products") or q.get("category"))
    for intent in ("faq", "product", "order_status", "handover", "none"):
        for language in ("ko", "en"):
            assert any(q["intent"] == intent and q["language"] == language for q in heldout), (intent, language)


def _key(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def test_heldout_v7_copies_no_faq_example_and_no_other_question(questions: list[dict[str, Any]]) -> None:
    # v7 paraphrases: none of its texts equals, once case, spaces and punctuation are dropped, an example
    # question of the FAQ seed or any other question of the set (nor another v7 question); v7 is the whole
    # held-out part.
    taken = {_key(t) for e in seed_faq() for t in e.questions}
    taken |= {_key(q["text"]) for q in questions if q.get("batch") != "v7"}
    v7 = [_key(q["text"]) for q in questions if q.get("batch") == "v7"]
    assert len(v7) >= 3_300
    assert {q.get("batch") for q in questions if q["split"] == "heldout"} == {"v7"}
    assert len(set(v7)) == len(v7)
    assert not [k for k in v7 if k in taken]


# Held-out v7 (3,399 questions, Korean and English, written blind to the engine by two writers) was run on
# the engine frozen after the sixth tuning round, and again after the intent examples were added (see the
# question set's header), and a third time after two fixes for catalogs named in FAQ phrasings (a product's
# kind names it; "wool" is a product word, not a question about fabric). Its figures fall short of issue 15's
# targets: each is asserted below as the floor (or ceiling) measured on the third run, named as such, so that
# a regression fails; they are not the targets.
HELDOUT_TOP1 = (2_611, 3_097)  # answerable questions right at the first answer: 84.3 % (target 90 %)
HELDOUT_HANDOVERS = (219, 220)  # requests for a person handed over: 99.5 % (target 100 %)
HELDOUT_UNASKED_HANDOVERS = 5
HELDOUT_OUT_OF_SCOPE_CONFIDENT = (7, 82)  # out-of-scope questions answered with confidence
HELDOUT_WRONG_CONFIDENT = (181, 3_399)  # 5.33 % (target 3 %)


def test_intent_examples_come_from_the_tuning_part_only(questions: list[dict[str, Any]]) -> None:
    # The examples the assistant ships (seed/intent_examples.yaml and their embeddings) are exactly what
    # bench/intent_examples.py writes from the tuning part: no held-out question is ever an example.
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    check = subprocess.run([sys.executable, str(root / "bench" / "intent_examples.py"), "--check"],
                           capture_output=True, text=True, cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr
    shipped = yaml.safe_load((root / "src/touchline/assistant/seed/intent_examples.yaml").read_text(encoding="utf-8"))
    heldout = {_key(q["text"]) for q in questions if q["split"] == "heldout"}
    assert not [r["text"] for r in shipped if _key(r["text"]) in heldout]


def test_heldout_top1_on_answerable_questions(heldout: Report) -> None:
    t = heldout.total(intents=ANSWERABLE)
    assert (t.right, t.n) >= HELDOUT_TOP1 and t.n == HELDOUT_TOP1[1], len(heldout.failures)


def test_heldout_requests_for_a_person_hand_over(heldout: Report) -> None:
    t = heldout.total(intents=("handover",))
    assert t.handed_over >= HELDOUT_HANDOVERS[0] and t.n == HELDOUT_HANDOVERS[1]
    assert heldout.false_handovers <= HELDOUT_UNASKED_HANDOVERS


def test_heldout_out_of_scope_questions_get_few_confident_answers(heldout: Report) -> None:
    # No issue target of its own (these count in the wrong confident rate below); the aim stays 0.
    t = heldout.total(intents=("none",))
    assert t.wrong_confident <= HELDOUT_OUT_OF_SCOPE_CONFIDENT[0] and t.n == HELDOUT_OUT_OF_SCOPE_CONFIDENT[1]


def test_heldout_wrong_confident_answers(heldout: Report) -> None:
    t = heldout.total()
    assert t.wrong_confident <= HELDOUT_WRONG_CONFIDENT[0] and t.n == HELDOUT_WRONG_CONFIDENT[1]
