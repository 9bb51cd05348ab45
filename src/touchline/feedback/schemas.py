"""Request bodies of the feedback API (pydantic at the edge, strict: JSON ``false`` is not the number 0);
every limit answers 422 naming the field. The service checks scores and texts again (the answer pages'
forms go straight to it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from touchline.feedback.service import MAX_COMMENT, MAX_REVIEW_BODY, MAX_TITLE, SURVEY_PATTERN

__all__ = ["AnswerIn", "LinkIn", "ReplyIn", "ReviewIn"]

IDENTIFIER = r"^[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
PRODUCT = r"^[^\x00-\x1f\x7f]+$"
TEXT = r"^[^\x00]*$"


def _integer(value: Any) -> Any:
    """JSON's 5.0 is the integer 5 (JSON Schema's "integer" accepts it); ``false`` is not 0 (strict)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integer)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AnswerIn(_Strict):
    # The document says what the validator below checks: a CSAT score is 1-5.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"anyOf": [
        {"properties": {"kind": {"const": "nps"}}},
        {"required": ["kind"], "properties": {"kind": {"const": "csat"}, "score": {"minimum": 1, "maximum": 5}}},
    ]})

    identifier: str = Field(min_length=1, max_length=512, pattern=IDENTIFIER,
                            description="The customer: user_id:…, email:…, phone:… or a bare value")
    survey: str = Field("nps", pattern=SURVEY_PATTERN, description="The survey's name (nps, csat, post-purchase…)")
    kind: Literal["nps", "csat"] = Field("nps", description="nps: 0-10; csat: 1-5")
    score: Integer = Field(ge=0, le=10, description="0-10 for nps, 1-5 for csat")
    comment: str | None = Field(None, max_length=MAX_COMMENT, pattern=TEXT)
    answer_key: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
                            description="The caller's id for this answer: a retry stores one answer")
    channel: Literal["in_app", "chat", "messenger", "web", "email", "sms", "push"] = "in_app"
    language: Literal["ko", "en"] | None = None

    @model_validator(mode="after")
    def _scale(self) -> AnswerIn:
        if self.kind == "csat" and not 1 <= self.score <= 5:
            raise ValueError("score must be 1-5 for csat")
        return self


class ReviewIn(_Strict):
    identifier: str = Field(min_length=1, max_length=512, pattern=IDENTIFIER,
                            description="The customer: user_id:…, email:…, phone:… or a bare value")
    product_id: str = Field(min_length=1, max_length=128, pattern=PRODUCT)
    order_id: str | None = Field(None, min_length=1, max_length=128, pattern=PRODUCT)
    rating: Integer = Field(ge=1, le=5)
    title: str | None = Field(None, max_length=MAX_TITLE, pattern=TEXT)
    body: str | None = Field(None, max_length=MAX_REVIEW_BODY, pattern=TEXT)
    language: Literal["ko", "en"] | None = None


class LinkIn(_Strict):
    # The document says what the validator below checks: a review link names its product.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"anyOf": [
        {"properties": {"type": {"const": "survey"}}},
        {"required": ["type", "product_id"], "properties": {"type": {"const": "review"},
                                                            "product_id": {"type": "string"}}},
    ]})

    identifier: str = Field(min_length=1, max_length=512, pattern=IDENTIFIER)
    type: Literal["survey", "review"] = "survey"
    survey: str = Field("nps", pattern=SURVEY_PATTERN)
    kind: Literal["nps", "csat"] = "nps"
    product_id: str | None = Field(None, min_length=1, max_length=128, pattern=PRODUCT)
    order_id: str | None = Field(None, min_length=1, max_length=128, pattern=PRODUCT)
    days: Integer = Field(14, ge=1, le=365, description="How long the link works")
    language: Literal["ko", "en"] | None = None

    @model_validator(mode="after")
    def _product(self) -> LinkIn:
        if self.type == "review" and not self.product_id:
            raise ValueError("a review link needs a product_id")
        return self


class ReplyIn(_Strict):
    text: str = Field(max_length=MAX_REVIEW_BODY, pattern=TEXT, description="The shop's public answer ('' removes it)")
