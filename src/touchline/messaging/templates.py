"""Message templates written by marketers: sandboxed Jinja2, one variant per locale, parts per channel.

A template is checked once when it is saved (:func:`validate_template` compiles every part and reports
syntax errors and unknown filters with their part, locale and line) and rendered per customer
(:meth:`CompiledTemplate.render`). Rendering is pure: the customer's locale and time zone come in as
arguments, nothing is read from the environment or the clock.

- Dots read data: on a mapping, ``x.name`` is ``x["name"]`` or undefined, never a dict method.
- Undefined variables render empty (``{{ profile.traits.nickname }}`` or chained
  ``{{ cart.items.0.name }}``), so a customer without a trait still gets the message; use
  ``{{ profile.traits.name|default("고객") }}`` for a fallback.
- Sandbox violations (``{{ ''.__class__ }}``, ``{{ "{0.__class__}".format(x) }}``, calling
  ``.update()`` on the context, ``"a" * 10**9``) raise :class:`TemplateSecurityError`.
- Only the ``html`` part is autoescaped; ``text``, ``subject``, SMS and push parts are plain text.
- Filters: ``krw`` (``59000|krw`` -> ``59,000원`` in ko, ``₩59,000`` in en) and ``date`` (in the
  customer's time zone: ``event.timestamp|date``, ``|date("date")``, ``|date("%Y-%m-%d")``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from touchline.errors import TouchlineError, ValidationFailed, field_error
from touchline.messaging.types import RenderedContent, language_of

__all__ = [
    "CHANNEL_PARTS",
    "CompiledTemplate",
    "MessageTemplate",
    "TemplateRenderError",
    "TemplateSecurityError",
    "format_date",
    "format_krw",
    "html_to_text",
    "render_template",
    "validate_template",
]

# channel -> (required parts, optional parts). Email needs html or text (checked separately).
CHANNEL_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "email": (("subject",), ("html", "text")),
    "sms": (("text",), ()),
    "messenger": (("text",), ("template_code", "params")),
    "push": (("title", "body"), ("url",)),
    "in_app": (("title", "body"), ("url",)),
    "webhook": (("text",), ()),  # the JSON or text body posted to the shop's endpoint
}
# Parts that end up in a header or a notification title: one line, whitespace collapsed.
_ONE_LINE_PARTS = ("subject", "title", "url")
_LANG_RE = re.compile(r"^[a-z]{2,3}$")
_MAX_REPEAT = 100_000  # longest string/list a template may build with * (the sandbox's range limit)
_MAX_EXPONENT = 1_000


class TemplateRenderError(TouchlineError):
    """A saved template failed for one customer (e.g. arithmetic on a missing value)."""

    status = 422


class TemplateSecurityError(TemplateRenderError):
    """The template tried to leave the sandbox."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox whose violations raise instead of rendering as empty.

    Jinja's sandbox turns an unsafe attribute into an Undefined that only fails when used further; with
    ChainableUndefined (so that missing traits render empty) it would fail silently. We want the attempt
    to be loud.
    """

    intercepted_binops = frozenset(["*", "**"])

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # A flat dict rather than Jinja's ChainMap over the environment's globals: every render copies
        # the globals into its context, and copying a ChainMap costs a tenth of rendering a short part.
        # Our globals never change after the environment is built.
        return {**self.globals, **(d or {})}

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Context objects are data: ``cart.items`` is the cart's items (or undefined), never ``dict.items``.
        # Loop over a mapping with the ``items`` filter: ``{% for k, v in profile.traits|items %}``.
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
            member = getattr(obj, attribute, None)
            if member is None or self.is_safe_attribute(obj, attribute, member):
                return self.undefined(obj=obj, name=attribute)
            # ``__class__``, ``update``...: an attempt on the sandbox, not a missing value.
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > _MAX_REPEAT:
                    raise SecurityError(f"result of * would exceed {_MAX_REPEAT} items")
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent above {_MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


# --- filters ---------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def format_krw(value: Any, locale: str | None = "ko") -> str:
    """``59000`` -> ``59,000원`` (ko) or ``₩59,000`` (other locales). KRW has no minor unit: amounts are
    rounded half up to whole won. A value that is not a number comes back as text, unchanged."""
    if type(value) is int:  # the common case needs no rounding (and bool, an int subclass, is not a number)
        won = value
        if abs(won) >= 10**24:
            return str(value)
    else:
        number = _number(value)
        if number is None:
            return "" if value is None else str(value)
        if abs(number) >= Decimal(10) ** 24:
            return str(value)
        won = int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign, digits = ("-" if won < 0 else ""), f"{abs(won):,}"
    return f"{sign}{digits}원" if language_of(locale) == "ko" else f"{sign}₩{digits}"


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)  # a calendar date has no time zone
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            moment = dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def format_date(value: Any, fmt: str | None = None, *, locale: str | None = "ko", timezone: str | None = None) -> str:
    """A moment in the customer's time zone. Naive datetimes are UTC (Touchline stores UTC).

    ``fmt``: ``None`` / ``"datetime"`` (``2024년 5월 3일 14:05`` / ``May 3, 2024 14:05``), ``"date"``,
    ``"time"``, or a ``strftime`` pattern. A value that is not a date comes back as text.
    """
    moment = _as_datetime(value)
    if moment is None:
        return "" if value is None else str(value)
    zone = _zone(timezone)
    if zone is not None and moment.tzinfo is not None:  # a plain date came back naive: not converted
        try:
            moment = moment.astimezone(zone)
        except (OverflowError, ValueError):
            return str(value)
    ko = language_of(locale) == "ko"
    day = f"{moment.year}년 {moment.month}월 {moment.day}일" if ko else f"{moment:%b} {moment.day}, {moment.year}"
    clock = f"{moment:%H:%M}"
    if fmt in (None, "datetime"):
        return f"{day} {clock}"
    if fmt == "date":
        return day
    if fmt == "time":
        return clock
    try:
        return moment.strftime(str(fmt))
    except ValueError:
        return str(value)


@pass_context
def _krw_filter(context: Context, value: Any) -> str:
    return format_krw(value, context.get("locale"))


@pass_context
def _date_filter(context: Context, value: Any, fmt: str | None = None) -> str:
    return format_date(value, fmt, locale=context.get("locale"), timezone=context.get("timezone"))


def _environment(autoescape: bool) -> _Sandbox:
    env = _Sandbox(autoescape=autoescape, undefined=ChainableUndefined, keep_trailing_newline=False)
    env.filters["krw"] = _krw_filter
    env.filters["date"] = _date_filter
    return env


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


# --- html -> text ----------------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
               "section", "article", "header", "footer", "blockquote", "hr"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and href.startswith(("http://", "https://")):
                self.out.append(f" ({href})")
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of an HTML body: block elements become lines, links keep their
    address in brackets, scripts and styles are dropped."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- templates -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageTemplate:
    """What a marketer saves: per locale, the channel's parts as Jinja2 source.

    ``variants = {"ko": {"subject": "...", "html": "..."}, "en": {...}}``. A messenger variant may carry
    ``template_code`` (the provider's pre-approved template, a literal) and ``params``
    (``{"name": "{{ profile.traits.name }}"}``, each value Jinja2 source).
    """

    key: str
    channel: str
    variants: Mapping[str, Mapping[str, Any]]
    default_locale: str = "ko"
    version: int = 1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MessageTemplate:
        return cls(key=str(data.get("key", "")), channel=str(data.get("channel", "")),
                   variants=data.get("variants") or {}, default_locale=str(data.get("default_locale", "ko")),
                   version=int(data.get("version", 1)))


@dataclass(frozen=True)
class _Part:
    field: str
    template: Template


@dataclass(frozen=True)
class CompiledTemplate:
    """A validated template, every part compiled; render it as often as needed."""

    template: MessageTemplate
    _parts: Mapping[str, Mapping[str, _Part]] = field(repr=False)  # locale -> part name -> compiled
    _params: Mapping[str, Mapping[str, _Part]] = field(repr=False)  # locale -> param name -> compiled

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self._parts)

    def choose_locale(self, customer_locale: str | None) -> str:
        """``ko-KR`` -> ``ko`` when the template has a ko variant, else the template's default."""
        lang = language_of(customer_locale)
        return lang if lang is not None and lang in self._parts else self.template.default_locale

    def render(self, context: Mapping[str, Any], *, locale: str | None = None,
               timezone: str | None = None, text_alternative: bool = True) -> RenderedContent:
        """Render for one customer. ``context`` holds ``profile``, ``event``, ``cart``,
        ``unsubscribe_url``...; ``locale`` and ``timezone`` are the customer's (``ko-KR``,
        ``Asia/Seoul``) and are also visible to the template. An e-mail without a ``text`` part gets
        ``html_to_text(html)`` as its text, unless ``text_alternative`` is false (the outbox: the SMTP
        channel derives it from the committed HTML when it builds the message, the same function of
        the same HTML, and the decide loop saves the HTML parse)."""
        chosen = self.choose_locale(locale)
        variables = {**context, "locale": chosen, "timezone": timezone}
        scopes: dict[int, dict[str, Any]] = {}  # per environment: its globals and the variables, made once
        out: dict[str, Any] = {}
        for name, part in self._parts[chosen].items():
            out[name] = _render_part(part, variables, scopes)
        for name in _ONE_LINE_PARTS:
            if name in out:
                out[name] = " ".join(out[name].split())
        params = {name: _render_part(part, variables, scopes) for name, part in self._params[chosen].items()}
        code = self.template.variants[chosen].get("template_code")
        if text_alternative and self.template.channel == "email" and "text" not in out and out.get("html"):
            out["text"] = html_to_text(out["html"])
        return RenderedContent(locale=chosen, template_code=str(code) if code else None, params=params, **out)


def _render_part(part: _Part, variables: Mapping[str, Any], scopes: dict[int, dict[str, Any]]) -> str:
    """``part.template.render(variables)``, with the template's top-level scope (its globals and the
    variables) built once per environment for all the parts of a message rather than copied twice for
    each part (``_compile`` gives no template globals of its own). The scope is only read: assignments in
    a template go to its own context, and the sandbox is immutable."""
    template = part.template
    scope = scopes.get(id(template.environment))
    if scope is None:
        scope = scopes[id(template.environment)] = {**template.globals, **variables}
    try:
        return template.environment.concat(template.root_render_func(template.new_context(scope, shared=True)))
    except SecurityError as exc:
        raise TemplateSecurityError(f"template blocked: {exc}",
                                    [field_error(part.field, "sandbox violation", message=str(exc))]) from exc
    except Exception as exc:  # re-raised as a domain error naming the part, never swallowed
        raise TemplateRenderError(f"template failed in {part.field}: {exc}",
                                  [field_error(part.field, type(exc).__name__, message=str(exc))]) from exc


def _compile(env: _Sandbox, source: Any, where: str, errors: list[dict[str, Any]]) -> _Part | None:
    if not isinstance(source, str):
        errors.append(field_error(where, "must be a string"))
        return None
    try:
        return _Part(where, env.from_string(source))
    except TemplateSyntaxError as exc:  # includes TemplateAssertionError: unknown filter or test
        errors.append(field_error(where, exc.message or str(exc), line=exc.lineno))
        return None


def validate_template(template: MessageTemplate | Mapping[str, Any]) -> CompiledTemplate:
    """Check a template at save time: channel and parts known, required parts present in every locale,
    the default locale present, every part compiling. Raises ``ValidationFailed`` with
    ``detail=[{"field": "variants.ko.html", "reason": ..., "line": 3}, ...]`` listing every problem."""
    if not isinstance(template, MessageTemplate):
        template = MessageTemplate.from_dict(template)
    errors: list[dict[str, Any]] = []
    if template.channel not in CHANNEL_PARTS:
        raise ValidationFailed(f"unknown channel {template.channel!r}",
                               [field_error("channel", f"channels are {', '.join(CHANNEL_PARTS)}")])
    required, optional = CHANNEL_PARTS[template.channel]
    if not template.variants or not isinstance(template.variants, Mapping):
        errors.append(field_error("variants", "at least one locale variant is required"))
    elif template.default_locale not in template.variants:
        errors.append(field_error("default_locale", f"no variant for the default locale {template.default_locale!r}"))
    parts: dict[str, dict[str, _Part]] = {}
    params: dict[str, dict[str, _Part]] = {}
    for locale, variant in (template.variants or {}).items():
        base = f"variants.{locale}"
        if not _LANG_RE.match(str(locale)):
            errors.append(field_error(base, "locale must be a language code such as 'ko' or 'en'"))
            continue
        if not isinstance(variant, Mapping):
            errors.append(field_error(base, "must be an object of parts"))
            continue
        parts[locale], params[locale] = {}, {}
        for name in required:
            if not variant.get(name):
                errors.append(field_error(f"{base}.{name}", "required"))
        if template.channel == "email" and not (variant.get("html") or variant.get("text")):
            errors.append(field_error(f"{base}.html", "an email needs an html or a text body"))
        for name, source in variant.items():
            where = f"{base}.{name}"
            if name not in required and name not in optional:
                errors.append(field_error(where, f"unknown part for {template.channel}; parts are "
                                                 f"{', '.join(required + optional)}"))
            elif name == "template_code":
                if not isinstance(source, str) or not source.strip():
                    errors.append(field_error(where, "must be the provider's template code"))
            elif name == "params":
                if not isinstance(source, Mapping):
                    errors.append(field_error(where, "must be an object of name -> template"))
                    continue
                for pname, psource in source.items():
                    compiled = _compile(_TEXT_ENV, psource, f"{where}.{pname}", errors)
                    if compiled:
                        params[locale][str(pname)] = compiled
            elif source is not None:
                env = _HTML_ENV if name == "html" else _TEXT_ENV
                compiled = _compile(env, source, where, errors)
                if compiled:
                    parts[locale][name] = compiled
    if errors:
        raise ValidationFailed(f"template {template.key!r} has {len(errors)} problem(s)", errors)
    return CompiledTemplate(template, parts, params)


def render_template(template: MessageTemplate | Mapping[str, Any], context: Mapping[str, Any], *,
                    locale: str | None = None, timezone: str | None = None) -> RenderedContent:
    """Validate and render in one call (for previews); keep the :class:`CompiledTemplate` when rendering
    the same template for many customers."""
    return validate_template(template).render(context, locale=locale, timezone=timezone)
