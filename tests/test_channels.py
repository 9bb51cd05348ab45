"""The one channel registry (touchline.channels): its Literal types and tuples agree, and every channel in
it is known to everything that handles channels (ingestion, templates, the send policy, the outbox's
addresses, providers, segments' reachability in SQL and in Python, journeys, the dashboard's names,
forms and filters), so that a channel added in one place only fails here. No other module writes out a
list of channels."""

from __future__ import annotations

import ast
import datetime as dt
import inspect
from pathlib import Path
from typing import get_args

import pytest
from babel import Locale
from fastapi.testclient import TestClient

import touchline
from segment_helpers import customers, python_members, set_snapshots, sql_members
from touchline import channels
from touchline.channels import (
    CONSENT_CHANNELS,
    CONVERSATION_CHANNELS,
    EVENT_CHANNELS,
    MESSAGE_CHANNELS,
    PROFILE_ID,
    REGISTRY,
    SEND_CHANNELS,
    ConsentChannel,
    MessageChannel,
    SendChannel,
)
from touchline.errors import ValidationFailed
from touchline.ingest.normalize import derive_channel, extract_consents
from touchline.journeys import definition
from touchline.messaging import channels as senders
from touchline.messaging.channels.registry import build_channels, channels_without_provider
from touchline.messaging.outbox import recipient_for
from touchline.messaging.policy import MessageIntent, Recipient, Send, Suppressed, SuppressReason, decide
from touchline.messaging.templates import CHANNEL_PARTS, validate_template
from touchline.messaging.types import MESSAGE_CHANNELS as TYPES_MESSAGE_CHANNELS
from touchline.segments import ast as segment_ast
from touchline.segments import compile as segment_compile
from touchline.segments.validate import parse as parse_segment
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.web import forms, message_pages
from touchline.web.i18n import Formatter
from web_helpers import add_user, sign_in

NOON_SEOUL = dt.datetime(2024, 5, 3, 3, 0, tzinfo=dt.UTC)  # 12:00 in Seoul: outside quiet hours
SRC = Path(touchline.__file__).parent


# --- the registry itself ------------------------------------------------------------------------------


def test_the_literals_and_the_registry_agree() -> None:
    assert tuple(c.name for c in REGISTRY) == MESSAGE_CHANNELS == get_args(MessageChannel)
    assert tuple(c.name for c in REGISTRY if c.consent) == CONSENT_CHANNELS == get_args(ConsentChannel)
    assert SEND_CHANNELS == get_args(SendChannel) == ("preferred", "best", *MESSAGE_CHANNELS)
    assert set(CONSENT_CHANNELS) < set(MESSAGE_CHANNELS)
    assert set(channels.BY_NAME) == set(MESSAGE_CHANNELS)
    assert len(set(MESSAGE_CHANNELS)) == len(MESSAGE_CHANNELS)
    # Ingestion keeps the sources, the channels customers are reached on, and the server.
    assert (*channels.SOURCE_CHANNELS, *CONSENT_CHANNELS, channels.SERVER_CHANNEL) == EVENT_CHANNELS
    assert not set(channels.SOURCE_CHANNELS) & set(MESSAGE_CHANNELS)
    # The fallback order: each place once; the inbox last; system destinations only when named.
    order = channels.DEFAULT_FALLBACK_ORDER
    assert len(set(order)) == len(order) and set(order) <= set(MESSAGE_CHANNELS)
    assert order[-1] == channels.INBOX
    assert set(channels.PROVIDER_SETTINGS) == set(MESSAGE_CHANNELS) - {channels.INBOX}


def test_a_registry_that_disagrees_with_its_literals_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = channels.ChannelSpec("fax", "Fax", "팩스", consent=True,  # type: ignore[arg-type]
                                 required_parts=("text",), optional_parts=(), address=("fax",),
                                 reach_traits=("fax",), provider_setting="fax_url", fallback=6)
    monkeypatch.setattr(channels, "REGISTRY", (*REGISTRY, extra))
    with pytest.raises(RuntimeError, match="MessageChannel"):
        channels._check()


def test_the_old_names_read_the_registry() -> None:
    assert TYPES_MESSAGE_CHANNELS == MESSAGE_CHANNELS
    assert definition.CHANNELS == MESSAGE_CHANNELS
    assert get_args(definition.Channel) == MESSAGE_CHANNELS
    assert get_args(definition.SendNode.model_fields["channel"].annotation) == SEND_CHANNELS
    assert segment_ast.REACHABLE_CHANNELS == CONSENT_CHANNELS
    assert get_args(segment_ast.Reachable.model_fields["channel"].annotation) == CONSENT_CHANNELS
    assert segment_ast.SERVER_CHANNEL == channels.SERVER_CHANNEL
    assert tuple(CHANNEL_PARTS) == MESSAGE_CHANNELS
    assert set(segment_compile.ADDRESS_TRAITS) == set(CONSENT_CHANNELS)
    assert forms.REACH_CHANNELS == CONSENT_CHANNELS
    assert message_pages.CHANNELS == MESSAGE_CHANNELS
    assert Settings().fallback_order == channels.DEFAULT_FALLBACK_ORDER


def _channel_lists(path: Path) -> list[tuple[int, list[str]]]:
    """Tuples, lists, sets, dicts' keys and Literal[...] in a module that name two or more message
    channels."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        items: list[ast.expr] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Literal":
            items = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        names = [i.value for i in items if isinstance(i, ast.Constant) and i.value in MESSAGE_CHANNELS]
        if len(names) >= 2 and (node.lineno, names) not in found:  # Literal[...] and its tuple: once
            found.append((node.lineno, names))
    return found


# Data about channels that is not a list of them: the demo's customers, how likely each grants consent
# to each channel (a channel the demo does not simulate is still a channel).
NOT_LISTS = {"demo/generator.py"}


def test_no_module_but_the_registry_writes_out_a_list_of_channels() -> None:
    written = {name: found for p in sorted(SRC.rglob("*.py"))
               if (name := p.relative_to(SRC).as_posix()) not in {"channels.py", *NOT_LISTS}
               if (found := _channel_lists(p))}
    assert written == {}, "read touchline.channels instead"
    # There, the names are written once: the consent channels' Literal (the others add one name each), and the
    # conversation channels' (where WhatsApp and KakaoTalk are apart: a customer writes from one of them).
    assert [names for _, names in _channel_lists(SRC / "channels.py")] == [
        list(CONSENT_CHANNELS), [c for c in CONVERSATION_CHANNELS if c in CONSENT_CHANNELS]]


# --- everything that handles channels knows every one -------------------------------------------------


@pytest.mark.parametrize("name", EVENT_CHANNELS)
def test_ingestion_keeps_every_event_channel(name: str) -> None:
    assert derive_channel({"channel": name}, "track") == name
    assert derive_channel({"channel": name.upper()}, "track") == name


@pytest.mark.parametrize("name", CONSENT_CHANNELS)
def test_ingestion_takes_consent_to_every_consent_channel(name: str) -> None:
    assert extract_consents({}, {"consent": {name: True}}) == {name: "granted"}
    assert extract_consents({"consent": {"categoryPreferences": {name: False}}}, {}) == {name: "denied"}


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_templates_take_every_channel(spec: channels.ChannelSpec) -> None:
    variant = {part: f"{part} {{{{ profile.traits.name }}}}" for part in spec.required_parts}
    if spec.name == "email":  # html or text: the templates' own rule
        variant["text"] = "text"
    compiled = validate_template({"key": "k", "channel": spec.name, "variants": {"ko": variant}}, strict=True)
    rendered = compiled.render({"profile": {"traits": {"name": "지은"}}}, locale="ko-KR").as_dict()
    for part in spec.required_parts:
        assert rendered[part] == f"{part} 지은"
    # A part the channel does not take is refused.
    foreign = "subject" if "subject" not in (*spec.required_parts, *spec.optional_parts) else "title"
    with pytest.raises(ValidationFailed) as refused:
        validate_template({"key": "k", "channel": spec.name, "variants": {"ko": {**variant, foreign: "x"}}})
    assert [d["field"] for d in refused.value.detail] == [f"variants.ko.{foreign}"]


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_the_policy_sends_on_every_channel(spec: channels.ChannelSpec) -> None:
    # A customer consents to a consent channel; nobody to a system destination (profiles refuse it).
    consents = {spec.name: {"status": "granted"}} if spec.consent else {}
    reachable = Recipient(addresses={spec.name: "somewhere"}, consents=consents)
    receipt = decide(MessageIntent("transactional", (spec.name,)), reachable, NOON_SEOUL)
    assert isinstance(receipt, Send) and receipt.channel == spec.name
    advert = decide(MessageIntent("advertising", (spec.name,)), reachable, NOON_SEOUL)
    if spec.consent:
        assert isinstance(advert, Send) and advert.channel == spec.name
    else:  # so no advertising goes there
        assert advert == Suppressed(SuppressReason.NO_CONSENT, ((spec.name, SuppressReason.NO_CONSENT),))
    # The customer's preferred channel comes first.
    preferred = Recipient(addresses={c: "x" for c in MESSAGE_CHANNELS}, preferred_channels=(spec.name,))
    assert decide(MessageIntent("transactional"), preferred, NOON_SEOUL) == Send(spec.name, NOON_SEOUL)


def test_the_outbox_addresses_every_channel() -> None:
    kinds = sorted({k for c in REGISTRY for k in c.address if k != PROFILE_ID})
    idents = [(kind, f"{kind}-value") for kind in kinds]
    recipient = recipient_for({"id": "p1", "traits": {}, "consents": {}}, idents, ())
    assert tuple(recipient.addresses) == MESSAGE_CHANNELS
    for spec in REGISTRY:
        first = spec.address[0]
        assert recipient.addresses[spec.name] == ("p1" if first == PROFILE_ID else f"{first}-value")
    # Nothing known: only the channels addressed by the profile itself.
    bare = recipient_for({"id": "p1", "traits": {}, "consents": {}}, [], ())
    assert {c for c, a in bare.addresses.items() if a} == {c.name for c in REGISTRY if c.address == (PROFILE_ID,)}
    # Every channel can be the customer's preferred one.
    for name in MESSAGE_CHANNELS:
        chosen = recipient_for({"id": "p1", "traits": {"preferred_channel": name}}, [], ())
        assert chosen.preferred_channels == (name,)


def test_every_channel_with_a_provider_has_a_sending_class_and_a_setting() -> None:
    classes = [obj for name in senders.__all__ if inspect.isclass(obj := getattr(senders, name))]
    sent_by = {getattr(cls, "name", None) for cls in classes}
    for name, setting in channels.PROVIDER_SETTINGS.items():
        assert name in sent_by, f"no class in touchline.messaging.channels sends {name}"
        assert setting in Settings.model_fields, setting
    assert set(build_channels(Settings(dev_channels=True))) == set(channels.PROVIDER_SETTINGS)
    assert channels_without_provider(Settings()) == list(channels.PROVIDER_CHANNELS)


@pytest.mark.parametrize("spec", [c for c in REGISTRY if c.consent], ids=lambda s: s.name)
def test_segments_know_who_is_reachable_on_every_consent_channel(
        spec: channels.ChannelSpec, stores: Stores, workspace_id: str) -> None:
    now = NOON_SEOUL
    granted = {spec.name: {"status": "granted"}}
    address = {trait: f"{trait}-value" for trait in spec.reach_traits[:1]}
    rows = {"reachable": {"traits": address, "consents": granted},
            "no-consent": {"traits": address, "consents": {spec.name: {"status": "denied"}}},
            "no-address": {"traits": {"name": "x"}, "consents": granted}}
    set_snapshots(stores, workspace_id, rows, now)
    node = parse_segment({"type": "reachable", "channel": spec.name})
    expected = {"reachable"} if spec.reach_traits else {"reachable", "no-address"}
    assert sql_members(stores, workspace_id, node, now) == expected
    assert python_members(customers(stores, workspace_id), node, now) == expected


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_dashboard_names_every_channel(lang: str) -> None:
    f = Formatter(lang, Locale.parse("ko_KR" if lang == "ko" else "en_US"), "Asia/Seoul")
    for spec in (*REGISTRY, *channels.SOURCES):
        assert f.label(spec.name) == (spec.label_ko if lang == "ko" else spec.label_en) != ""
    named = {f.label(c) for c in (*MESSAGE_CHANNELS, *EVENT_CHANNELS)}
    assert len(named) == len(set(MESSAGE_CHANNELS) | set(EVENT_CHANNELS))  # no two alike


def test_the_segment_builder_offers_every_consent_channel() -> None:
    for name in CONSENT_CHANNELS:
        builder = forms.builder_from_form({"match": "and", "c-0-kind": "reachable", "c-0-channel": name})
        rule = forms.definition_of(builder)
        assert rule == {"type": "reachable", "channel": name}
        parse_segment(rule)
        again = forms.builder_of(rule)
        assert again is not None and again.rows[0].channel == name


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_the_dashboard_pages_list_every_channel(client: TestClient, stores: Stores) -> None:
    add_user(stores, "m@example.com", "marketer")
    sign_in(client, "m@example.com")
    builder = client.get("/segments/new")
    assert builder.status_code == 200
    for name in CONSENT_CHANNELS:
        assert f'<option value="{name}"' in builder.text
    log = client.get("/messages")
    assert log.status_code == 200
    for name in MESSAGE_CHANNELS:
        assert f'<option value="{name}"' in log.text
    assert client.get("/messages?channel=webhook").status_code == 200
