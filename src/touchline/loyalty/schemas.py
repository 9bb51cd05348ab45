"""Request bodies of the loyalty API (pydantic at the edge): every limit answers 422 naming the field, with
nothing written; the service checks the same again (the dashboard's forms go straight to it). Numbers are
strict: JSON ``false`` or ``"100"`` is not a number of points."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, model_validator

from touchline.loyalty.rules import MAX_POINTS

__all__ = [
    "AdjustIn", "BatchIn", "CodesIn", "CouponRedeemIn", "EarnIn", "ProgramIn", "ProgramUpdateIn", "RedeemIn",
    "ReferralIn", "ReverseIn", "RewardIn", "SpendIn",
]

FILLED_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"
KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
Customer = Annotated[str, Field(min_length=1, max_length=300, pattern=FILLED_TEXT,
                                description="The customer: any identifier (`user_id:kim-01`, `email:...`, a "
                                            "profile id).")]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=200, pattern=KEY_PATTERN,
                                      description="Unique in the program for this movement (the order id, a "
                                                  "checkout attempt); the same request again answers the movement "
                                                  "already made and writes nothing.")]
Positive = Annotated[StrictInt, Field(ge=1, le=MAX_POINTS, description="Points, a positive whole number.")]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=FILLED_TEXT)]
OrderId = Annotated[str, Field(min_length=1, max_length=200, pattern=FILLED_TEXT)]
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProgramIn(_Strict):
    key: Slug = Field(description="The program's stable name in the workspace (`members`).")
    name: str = Field(min_length=1, max_length=100, pattern=FILLED_TEXT)
    definition: dict[str, Any] | None = Field(
        None, description="Points, earning rules, refund events, tiers and referrals (see the README); the "
                          "default program when absent. Validated: each problem is named by its place.")


class ProgramUpdateIn(_Strict):
    name: str | None = Field(None, min_length=1, max_length=100, pattern=FILLED_TEXT)
    status: Literal["active", "paused"] | None = None
    definition: dict[str, Any] | None = Field(None, description="A new version of the definition, live at once.")


class EarnIn(_Strict):
    customer: Customer
    points: Positive
    idempotency_key: IdempotencyKey
    reason: Reason = "earned"
    order_id: OrderId | None = None
    pending_days: Annotated[StrictInt, Field(ge=0, le=3650)] | None = Field(
        None, description="Days before the points can be spent; the program's return window when absent.")


class SpendIn(_Strict):
    customer: Customer
    points: Positive
    idempotency_key: IdempotencyKey
    reason: Reason = "spent at checkout"
    order_id: OrderId | None = None


class AdjustIn(_Strict):
    customer: Customer
    points: Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS, description="Non-zero: given or taken.")]
    idempotency_key: IdempotencyKey
    reason: Reason

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustIn:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


class ReverseIn(_Strict):
    customer: Customer | None = Field(None, description="Whose order it was (needed with `order_id`).")
    order_id: OrderId | None = Field(None, description="Reverse what this order earned (a refund).")
    spend_key: Annotated[str, Field(min_length=1, max_length=200, pattern=KEY_PATTERN)] | None = Field(
        None, description="Give back the spend made with this idempotency key (a checkout that failed).")
    fraction: Annotated[StrictFloat | StrictInt, Field(gt=0, le=1)] = Field(
        1, description="Of what the order earned: a partial refund reverses its share.")
    idempotency_key: IdempotencyKey
    reason: Reason | None = None


class BatchOperation(_Strict):
    kind: Literal["earn", "spend", "adjust"]
    customer: Customer
    points: Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
    idempotency_key: IdempotencyKey
    reason: Reason | None = None
    order_id: OrderId | None = None


class BatchIn(_Strict):
    operations: list[BatchOperation] = Field(min_length=1, max_length=5_000)


class RewardIn(_Strict):
    key: Slug
    name_ko: str = Field(min_length=1, max_length=100, pattern=FILLED_TEXT)
    name_en: str = Field(min_length=1, max_length=100, pattern=FILLED_TEXT)
    cost: Annotated[StrictInt, Field(ge=0, le=MAX_POINTS)] = Field(
        description="Points a customer pays for it; 0: handed out as codes only.")
    kind: Literal["amount_off", "percent_off", "free_shipping", "gift"]
    value: Annotated[StrictInt, Field(ge=0, le=10**12)] = Field(
        0, description="amount_off: minor units of the program's currency; percent_off: 1-100.")
    valid_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 30
    active: StrictBool = True


class CodesIn(_Strict):
    count: Annotated[StrictInt, Field(ge=1, le=20_000)]
    expires_at: str = Field(description="RFC 3339 date-time with offset, or a date: the codes expire then.")
    prefix: Annotated[str, Field(min_length=0, max_length=12, pattern=r"^[A-Z0-9]*$")] = ""
    batch: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] | None = Field(
        None, description="A name for the batch; generating the same batch again returns it (idempotent).")


class RedeemIn(_Strict):
    customer: Customer
    idempotency_key: IdempotencyKey


class CouponRedeemIn(_Strict):
    customer: Customer | None = None
    order_id: OrderId | None = None
    idempotency_key: IdempotencyKey


class ReferralIn(_Strict):
    customer: Customer = Field(description="The new customer who was referred.")
    code: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]
    device_id: Annotated[str, Field(min_length=1, max_length=200, pattern=FILLED_TEXT)] | None = None
