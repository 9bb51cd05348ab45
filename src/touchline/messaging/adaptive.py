"""Adaptive content: blocks of a message template chosen per customer by rules, each with a default.

A template may hold ``blocks``; its parts show one with ``{{ blocks.hero }}``::

    "blocks": {
      "hero": {
        "rules": [
          {"when": {"platform": "app", "os": "ios"}, "content": {"ko": "앱 전용 쿠폰", "en": "App-only coupon"}},
          {"when": {"score": {"name": "churn_risk", "operator": ">", "value": 0.7}},
           "content": "15% off, {{ profile.traits.name }}"},
          {"when": {"local_hour": {"from": 18, "to": 24}, "locale": "ko"}, "content": "오늘 밤 마감"}
        ],
        "default": "New this week"
      }
    }

The first rule whose conditions all hold gives the block's content; none holding, the default does. A
content is Jinja2 source rendered in the same sandbox as the parts (a string, or one per locale of the
template). Conditions (``when``):

- ``platform``: ``app`` or ``web`` (or a list): where the customer is, or was last;
- ``os``: ``ios`` or ``android`` (or a list);
- ``locale``: a language code or a list (``ko``, ``["en", "ja"]``): the customer's language;
- ``local_hour``: ``{"from": 6, "to": 12}``: the hour in the customer's time zone, ``from`` included, ``to``
  not (``{"from": 21, "to": 6}`` runs over midnight);
- ``segment``: a segment's id or name: the customer is a member;
- ``trait``: ``{"name": "tier", "operator": "=", "value": "gold"}`` (``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``,
  ``in``, ``exists``);
- ``score``: ``{"name": "churn_risk", "operator": ">", "value": 0.7}``: a predicted score (``purchase_propensity``,
  ``churn_risk``), a number from 0 to 1 kept in the customer's traits.

Everything here is pure: the customer comes in as an :class:`Audience` (its local hour computed from a time
given by the caller), the rules as plain data. :func:`check_blocks` reports every problem with the block and
the field (``blocks.hero.rules.0.when.os``), for a 4xx at save time.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from touchline.errors import field_error

__all__ = [
    "CONDITIONS",
    "OS_TRAIT",
    "PLATFORM_TRAIT",
    "SCORE_TRAITS",
    "Audience",
    "audience_for",
    "check_blocks",
    "choose",
    "sample_audiences",
    "segment_refs",
]

PLATFORMS = ("app", "web")
OPERATING_SYSTEMS = ("ios", "android")
# The predicted scores (touchline.predictions writes them as traits, from 0 to 1).
SCORE_TRAITS = ("purchase_propensity", "churn_risk")
# Computed traits saying where a customer was last seen (the predictions' scoring writes them from the
# event store): app or web, and the app's operating system.
PLATFORM_TRAIT = "last_platform"
OS_TRAIT = "last_os"
CONDITIONS = ("platform", "os", "locale", "local_hour", "segment", "trait", "score")
TRAIT_OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "in", "exists")
SCORE_OPERATORS = (">", ">=", "<", "<=")
MAX_BLOCKS = 20
MAX_RULES = 20
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_LANG = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Audience:
    """Who a message is rendered for, as the rules see them."""

    platform: str | None = None  # app | web
    os: str | None = None  # ios | android
    locale: str | None = None  # a language code: ko, en
    local_hour: int | None = None  # 0..23 in the customer's time zone
    segments: frozenset[str] = frozenset()  # ids and names of the segments they are in
    traits: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"platform": self.platform, "os": self.os, "locale": self.locale, "local_hour": self.local_hour,
                "segments": sorted(self.segments), "traits": dict(self.traits)}


def _language(locale: Any) -> str | None:
    if not isinstance(locale, str) or not locale.strip():
        return None
    return re.split(r"[-_]", locale.strip(), maxsplit=1)[0].lower() or None


def _lower(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def audience_for(profile: Mapping[str, Any], now: dt.datetime, *, segments: Iterable[str] = (),
                 platform: str | None = None, os: str | None = None) -> Audience:
    """The audience a customer's profile (traits, locale, time zone) makes at ``now``. Their platform and
    operating system: as given (the channel or the request knows), else the ``platform`` / ``os`` traits
    the shop set, else where they were last seen (``last_platform`` / ``last_os``)."""
    traits = profile.get("traits") or {}
    zone: dt.tzinfo = dt.UTC
    name = profile.get("timezone") or traits.get("timezone")
    if isinstance(name, str) and name:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
    moment = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    return Audience(
        platform=_lower(platform) or _lower(traits.get("platform")) or _lower(traits.get(PLATFORM_TRAIT)),
        os=_lower(os) or _lower(traits.get("os")) or _lower(traits.get(OS_TRAIT)),
        locale=_language(profile.get("locale")) or _language(traits.get("locale")),
        local_hour=moment.astimezone(zone).hour,
        segments=frozenset(segments),
        traits=traits,
    )


# --- checking ---------------------------------------------------------------------------------------


def _one_of(value: Any, allowed: Sequence[str] | None, where: str, errors: list[dict[str, Any]],
            pattern: re.Pattern[str] | None = None) -> None:
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > 20:
        errors.append(field_error(where, "give a value or a list of 1 to 20"))
        return
    for v in values:
        if not isinstance(v, str) or (allowed is not None and v not in allowed) or (pattern and not pattern.match(v)):
            reason = f"must be one of {', '.join(allowed)}" if allowed else "must be a language code such as ko or en"
            errors.append(field_error(where, reason + (" (or a list of them)" if allowed else "")))
            return


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_when(when: Any, where: str, errors: list[dict[str, Any]]) -> None:
    if not isinstance(when, Mapping) or not when:
        errors.append(field_error(where, f"an object of conditions ({', '.join(CONDITIONS)}); a rule needs at least "
                                         "one (the block's default is for everyone else)"))
        return
    for key, value in when.items():
        at = f"{where}.{key}"
        if key == "platform":
            _one_of(value, PLATFORMS, at, errors)
        elif key == "os":
            _one_of(value, OPERATING_SYSTEMS, at, errors)
        elif key == "locale":
            _one_of(value, None, at, errors, _LANG)
        elif key == "local_hour":
            if not isinstance(value, Mapping) or set(value) != {"from", "to"}:
                errors.append(field_error(at, 'must be {"from": hour, "to": hour}'))
                continue
            lo, hi = value["from"], value["to"]
            if not (isinstance(lo, int) and not isinstance(lo, bool) and 0 <= lo <= 23):
                errors.append(field_error(f"{at}.from", "an hour from 0 to 23"))
            if not (isinstance(hi, int) and not isinstance(hi, bool) and 0 <= hi <= 24):
                errors.append(field_error(f"{at}.to", "an hour from 0 to 24"))
            elif lo == hi:
                errors.append(field_error(f"{at}.to", "must differ from from (the hours from..to, to not included)"))
        elif key == "segment":
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                errors.append(field_error(at, "a segment's id or name"))
        elif key in ("trait", "score"):
            _check_comparison(key, value, at, errors)
        else:
            errors.append(field_error(at, f"unknown condition; conditions are {', '.join(CONDITIONS)}"))


def _check_comparison(kind: str, value: Any, at: str, errors: list[dict[str, Any]]) -> None:
    if not isinstance(value, Mapping):
        errors.append(field_error(at, 'must be {"name": ..., "operator": ..., "value": ...}'))
        return
    unknown = set(value) - {"name", "operator", "value"}
    if unknown:
        errors.append(field_error(f"{at}.{sorted(unknown)[0]}", "unknown field; give name, operator, value"))
    name, op, operand = value.get("name"), value.get("operator"), value.get("value")
    if kind == "score":
        if name not in SCORE_TRAITS:
            errors.append(field_error(f"{at}.name", f"must be one of {', '.join(SCORE_TRAITS)}"))
        if op not in SCORE_OPERATORS:
            errors.append(field_error(f"{at}.operator", f"must be one of {', '.join(SCORE_OPERATORS)}"))
        if not (isinstance(operand, int | float) and _number(operand) and 0 <= operand <= 1):
            errors.append(field_error(f"{at}.value", "a score from 0 to 1"))
        return
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors.append(field_error(f"{at}.name", "the trait's name"))
    if op not in TRAIT_OPERATORS:
        errors.append(field_error(f"{at}.operator", f"must be one of {', '.join(TRAIT_OPERATORS)}"))
    elif op in (">", ">=", "<", "<=") and not _number(operand):
        errors.append(field_error(f"{at}.value", f"a number, to compare with {op}"))
    elif op == "in" and not (isinstance(operand, list) and 0 < len(operand) <= 100):
        errors.append(field_error(f"{at}.value", "a list of 1 to 100 values"))
    elif op in ("=", "!=") and not isinstance(operand, str | int | float | bool):
        errors.append(field_error(f"{at}.value", "a string, number or true/false"))


def _check_content(content: Any, locales: Sequence[str], default_locale: str, where: str,
                   errors: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, Mapping) or not content:
        errors.append(field_error(where, "Jinja2 source, or an object of it per locale"))
        return
    for locale, source in content.items():
        if locale not in locales:
            errors.append(field_error(f"{where}.{locale}", f"no such locale in the template (it has "
                                                           f"{', '.join(locales) or 'none'})"))
        elif not isinstance(source, str):
            errors.append(field_error(f"{where}.{locale}", "must be a string"))
    if default_locale not in content:
        errors.append(field_error(f"{where}.{default_locale}", "required: the template's default locale"))


def check_blocks(blocks: Any, locales: Sequence[str], default_locale: str) -> list[dict[str, Any]]:
    """Every problem in a template's ``blocks``, each naming the block and the field."""
    errors: list[dict[str, Any]] = []
    if blocks is None:
        return errors
    if not isinstance(blocks, Mapping):
        return [field_error("blocks", "an object of name -> block")]
    if len(blocks) > MAX_BLOCKS:
        errors.append(field_error("blocks", f"at most {MAX_BLOCKS} blocks"))
    for name, block in blocks.items():
        base = f"blocks.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            errors.append(field_error(base, "a block's name is lower case letters, digits and _ (hero, footer_offer)"))
            continue
        if not isinstance(block, Mapping):
            errors.append(field_error(base, 'must be {"rules": [...], "default": ...}'))
            continue
        unknown = set(block) - {"rules", "default"}
        if unknown:
            errors.append(field_error(f"{base}.{sorted(unknown)[0]}", "unknown field; a block has rules and default"))
        if "default" not in block:
            errors.append(field_error(f"{base}.default", "required: what customers no rule matches get"))
        else:
            _check_content(block["default"], locales, default_locale, f"{base}.default", errors)
        rules = block.get("rules", [])
        if not isinstance(rules, list) or len(rules) > MAX_RULES:
            errors.append(field_error(f"{base}.rules", f"a list of at most {MAX_RULES} rules"))
            continue
        for i, rule in enumerate(rules):
            at = f"{base}.rules.{i}"
            if not isinstance(rule, Mapping):
                errors.append(field_error(at, 'must be {"when": {...}, "content": ...}'))
                continue
            unknown = set(rule) - {"when", "content"}
            if unknown:
                errors.append(field_error(f"{at}.{sorted(unknown)[0]}", "unknown field; a rule has when and content"))
            _check_when(rule.get("when"), f"{at}.when", errors)
            if "content" not in rule:
                errors.append(field_error(f"{at}.content", "required"))
            else:
                _check_content(rule["content"], locales, default_locale, f"{at}.content", errors)
    return errors


def segment_refs(blocks: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(field, segment id or name)`` of every segment condition (the service checks they exist)."""
    out = []
    for name, block in (blocks or {}).items():
        for i, rule in enumerate(block.get("rules", []) if isinstance(block, Mapping) else []):
            when = rule.get("when") if isinstance(rule, Mapping) else None
            if isinstance(when, Mapping) and isinstance(when.get("segment"), str):
                out.append((f"blocks.{name}.rules.{i}.when.segment", when["segment"]))
    return out


# --- choosing ---------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _trait(traits: Mapping[str, Any], name: str) -> Any:
    value: Any = traits
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _compare(found: Any, op: str, operand: Any) -> bool:
    if op == "exists":
        return found is not None
    if found is None:
        return False
    if op == "=":  # true is not 1, nor false 0
        if isinstance(found, bool) or isinstance(operand, bool):
            return found is operand
        return bool(found == operand)
    if op == "!=":
        return not _compare(found, "=", operand)
    if op == "in":
        return any(_compare(found, "=", v) for v in _as_list(operand))
    if not (_number(found) and _number(operand)):
        return False
    return {">": found > operand, ">=": found >= operand, "<": found < operand, "<=": found <= operand}[op]


def _holds(when: Mapping[str, Any], who: Audience) -> bool:
    for key, value in when.items():
        if key == "platform" and who.platform not in _as_list(value):
            return False
        if key == "os" and who.os not in _as_list(value):
            return False
        if key == "locale" and who.locale not in _as_list(value):
            return False
        if key == "local_hour":
            hour, lo, hi = who.local_hour, value["from"], value["to"]
            if hour is None or not (lo <= hour < hi if lo < hi else hour >= lo or hour < hi):
                return False
        if key == "segment" and value not in who.segments:
            return False
        if key in ("trait", "score") and not _compare(_trait(who.traits, value["name"]), value["operator"],
                                                      value.get("value")):
            return False
    return True


def choose(block: Mapping[str, Any], who: Audience) -> int | None:
    """The index of the first rule of ``block`` that holds for ``who``; None for the default."""
    for i, rule in enumerate(block.get("rules", [])):
        if _holds(rule["when"], who):
            return i
    return None


def content_of(block: Mapping[str, Any], chosen: int | None, locale: str, default_locale: str) -> str:
    """The Jinja2 source a block shows: the chosen rule's (or the default's), in ``locale`` when given per locale."""
    content = block["default"] if chosen is None else block["rules"][chosen]["content"]
    if isinstance(content, str):
        return content
    return str(content.get(locale, content.get(default_locale, "")))


# --- the preview's kinds of customer ------------------------------------------------------------------


def _satisfying(when: Mapping[str, Any], base: Audience) -> Audience:
    """An audience like ``base`` for whom every condition of ``when`` holds (as far as one can)."""
    who = base
    traits = dict(base.traits)
    for key, value in when.items():
        if key == "platform":
            who = replace(who, platform=_as_list(value)[0])
        elif key == "os":
            who = replace(who, os=_as_list(value)[0], platform="app")
        elif key == "locale":
            who = replace(who, locale=_as_list(value)[0])
        elif key == "local_hour":
            who = replace(who, local_hour=int(value["from"]) % 24)
        elif key == "segment":
            who = replace(who, segments=who.segments | {value})
        elif key in ("trait", "score"):
            op, operand = value["operator"], value.get("value")
            step = 0.05 if key == "score" else 1
            chosen = {"=": operand, "exists": "yes", "in": _as_list(operand)[0],
                      ">": operand + step if _number(operand) else operand, ">=": operand,
                      "<": operand - step if _number(operand) else operand, "<=": operand,
                      "!=": f"not {operand}"}.get(op, operand)
            if key == "score" and _number(chosen):
                chosen = round(min(1.0, max(0.0, chosen)), 4)
            node = traits
            *parents, last = value["name"].split(".")
            for part in parents:
                child = node.get(part)
                node[part] = child = dict(child) if isinstance(child, dict) else {}
                node = child
            node[last] = chosen
    return replace(who, traits=traits)


def sample_audiences(blocks: Mapping[str, Any], default_locale: str) -> list[tuple[str, Audience]]:
    """One kind of customer for each rule of each block (meeting its conditions) and one whom no rule is
    meant for, each with a label: what the preview shows when the caller names nobody."""
    base = Audience(platform="web", locale=default_locale, local_hour=12)
    out: list[tuple[str, Audience]] = [("default", base)]
    for name, block in blocks.items():
        for i, rule in enumerate(block.get("rules", [])):
            out.append((f"{name} rule {i + 1}", _satisfying(rule["when"], base)))
    return out
