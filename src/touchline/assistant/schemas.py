"""Request bodies of the assistant API (pydantic at the edge): every limit answers 422 naming the field;
the service checks the same again (the dashboard's forms go straight to it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from touchline.assistant.service import (
    KEY_PATTERN,
    MAX_ANSWER_CHARS,
    MAX_QUESTION_CHARS,
    MAX_QUESTIONS,
    TOPIC_PATTERN,
)

__all__ = ["AnswerIn", "FaqIn", "FaqVersionIn"]

# No NUL (PostgreSQL text cannot hold one), and something besides white space.
FILLED_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"
Question = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=FILLED_TEXT)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaqVersionIn(_Strict):
    questions: list[Question] = Field(default_factory=list, max_length=MAX_QUESTIONS,
                                      description="Example phrasings a shopper might use.")
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS, pattern=FILLED_TEXT,
                        description="What the assistant answers.")


class FaqIn(_Strict):
    # The document says what the validator below checks: a Korean or an English version, or both.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["ko"], "properties": {"ko": {"type": "object"}}},
        {"required": ["en"], "properties": {"en": {"type": "object"}}},
    ]})

    key: str | None = Field(None, min_length=1, max_length=64, pattern=KEY_PATTERN,
                            description="The entry's stable name in the workspace (shipping_fee); its id when "
                                        "absent (a PUT without one keeps the entry's key).")
    topic: str = Field(min_length=1, max_length=40, pattern=TOPIC_PATTERN,
                       description="shipping, returns, exchanges, refunds, payment, sizes, stores, coupons, ...")
    enabled: StrictBool = Field(True, description="A disabled entry is kept but not answered from.")
    ko: FaqVersionIn | None = Field(None, description="The Korean version.")
    en: FaqVersionIn | None = Field(None, description="The English version.")

    @model_validator(mode="after")
    def _one_language(self) -> FaqIn:
        if self.ko is None and self.en is None:
            raise ValueError("an entry needs a Korean (ko) or an English (en) version, or both")
        return self

    def versions(self) -> dict[str, Any]:
        return {"ko": self.ko.model_dump() if self.ko else None, "en": self.en.model_dump() if self.en else None}


class AnswerIn(_Strict):
    question: str = Field(min_length=1, max_length=2000, pattern=FILLED_TEXT, description="A shopper's question.")
    language: Literal["ko", "en"] | None = Field(None, description="The reply's language (else the question's).")
