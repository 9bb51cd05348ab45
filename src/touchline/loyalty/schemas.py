"""Request bodies of the loyalty API (pydantic at the edge): every limit answers 422 naming the field, with
nothing written; the service checks the same again (the dashboard's forms go straight to it). Numbers are
strict: JSON ``false`` or ``"100"`` is not a number of points."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from touchline.loyalty.rules import MAX_POINTS
from touchline.validation import REAL, WHOLE, Moment

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
Positive = Annotated[int, Field(ge=1, le=MAX_POINTS, description="Points, a positive whole number."), WHOLE]
NonZero = Annotated[int, Field(ge=-MAX_POINTS, le=MAX_POINTS, json_schema_extra={"not": {"const": 0}},
                               description="Points given (positive) or taken (negative); not 0."), WHOLE]
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
    order_id: OrderId = Field(None)  # type: ignore[assignment]
    pending_days: Annotated[int, Field(ge=0, le=3650), WHOLE] = Field(  # type: ignore[assignment]
        None, description="Days before the points can be spent; the program's return window when absent.")


class SpendIn(_Strict):
    customer: Customer
    points: Positive
    idempotency_key: IdempotencyKey
    reason: Reason = "spent at checkout"
    order_id: OrderId | None = None


class AdjustIn(_Strict):
    customer: Customer
    points: NonZero
    idempotency_key: IdempotencyKey
    reason: Reason

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustIn:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


class ReverseIn(_Strict):
    # Either what an order earned, or a spend given back: exactly one of the two.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["order_id"], "not": {"required": ["spend_key"]}},
        {"required": ["spend_key"], "not": {"required": ["order_id"]}},
    ]})

    customer: Customer = Field(description="Whose order or spend it is.")
    order_id: OrderId = Field(None, description="Reverse what this order earned (a refund).")  # type: ignore[assignment]
    spend_key: Annotated[str, Field(min_length=1, max_length=200, pattern=KEY_PATTERN)] = Field(  # type: ignore[assignment]
        None, description="Give back the spend made with this idempotency key (a checkout that failed).")
    fraction: Annotated[float, Field(gt=0, le=1), REAL] = Field(
        1.0, description="Of what the order earned: a partial refund reverses its share.")
    idempotency_key: IdempotencyKey
    reason: Reason = Field(None)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_of(self) -> ReverseIn:
        if (self.order_id is None) == (self.spend_key is None):
            raise ValueError("name either order_id (a refund) or spend_key (a spend given back)")
        return self


class _Operation(_Strict):
    customer: Customer
    idempotency_key: IdempotencyKey
    reason: Reason = Field(None)  # type: ignore[assignment]
    order_id: OrderId = Field(None)  # type: ignore[assignment]


class EarnOperation(_Operation):
    kind: Literal["earn"]
    points: Positive


class SpendOperation(_Operation):
    kind: Literal["spend"]
    points: Positive


class AdjustOperation(_Operation):
    kind: Literal["adjust"]
    points: NonZero

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustOperation:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


BatchOperation = Annotated[EarnOperation | SpendOperation | AdjustOperation, Field(discriminator="kind")]


class BatchIn(_Strict):
    operations: list[BatchOperation] = Field(min_length=1, max_length=5_000)


class _Reward(_Strict):
    key: Slug
    name_ko: str = Field(min_length=1, max_length=100, pattern=FILLED_TEXT)
    name_en: str = Field(min_length=1, max_length=100, pattern=FILLED_TEXT)
    cost: Annotated[int, Field(ge=0, le=MAX_POINTS), WHOLE] = Field(
        description="Points a customer pays for it; 0: handed out as codes only.")
    valid_days: Annotated[int, Field(ge=1, le=3650), WHOLE] = 30
    active: StrictBool = True


class AmountOffIn(_Reward):
    kind: Literal["amount_off"]
    value: Annotated[int, Field(ge=1, le=10**12), WHOLE] = Field(description="Minor units of the program's currency.")


class PercentOffIn(_Reward):
    kind: Literal["percent_off"]
    value: Annotated[int, Field(ge=1, le=100), WHOLE] = Field(description="Percent off, 1 to 100.")


class FreeShippingIn(_Reward):
    kind: Literal["free_shipping"]
    value: Annotated[int, Field(ge=0, le=0), WHOLE] = 0


class GiftIn(_Reward):
    kind: Literal["gift"]
    value: Annotated[int, Field(ge=0, le=0), WHOLE] = 0


RewardIn = Annotated[AmountOffIn | PercentOffIn | FreeShippingIn | GiftIn, Field(discriminator="kind")]


class CodesIn(_Strict):
    count: Annotated[int, Field(ge=1, le=20_000), WHOLE]
    expires_at: Moment = Field(description="The codes expire then (in the future).")
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
