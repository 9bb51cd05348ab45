"""The OpenAPI document describes the API: schemathesis runs what ``schemathesis run`` runs (its engine:
examples, coverage, fuzzing and stateful phases, every default check) against the app in-process over
ASGI, once with a write key and once with an admin token, on both backends. Any 5xx or any response the
document does not describe fails the test, with schemathesis' own report of each.

Runs: both key kinds on the embedded stores, and the admin token on PostgreSQL (an admin token reaches
every operation, the tracking ones too; what a write key changes is authorization, which does not
depend on the backend). Examples are bounded so the three runs take about a minute of CPU; the seed is
fixed so a failure reproduces (``TOUCHLINE_SCHEMATHESIS_SEED`` picks another seed,
``TOUCHLINE_SCHEMATHESIS_EXAMPLES`` more examples per operation).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.engine import Status, events, from_schema

from support import basic, bearer
from touchline.app import create_app
from touchline.store.engines import Stores

SEED = int(os.environ.get("TOUCHLINE_SCHEMATHESIS_SEED", "20261201"))
EXAMPLES = int(os.environ.get("TOUCHLINE_SCHEMATHESIS_EXAMPLES", "4"))

# positive_data_acceptance sends requests the document calls valid and expects them accepted. A few
# rules are beyond JSON Schema; where one applies, its status is expected too (only for that check,
# only on these operations). Each with its reason:
SEMANTIC_REJECTIONS: list[tuple[str, list[str], str]] = [
    # A period's start must be before its end: a rule between two parameters.
    ("^/v1/analytics/", ["400"], "start before end"),
    # Each message is checked on its own and reported by index: sizes (32 KB a message, 500 KB a batch),
    # no NUL anywhere in its free-form objects (PostgreSQL text cannot hold one), and a timestamp still
    # within years 1-9999 once corrected for the sender's clock (sentAt).
    ("^/v1/(track|identify|page|screen|group|alias|batch|import)$", ["400"], "per-message rules"),
    # Segment rules and journey definitions are documents with their own language: an operator takes a
    # value of its own type, nodes name each other, segments name segments. Both are checked whole and
    # every problem reported (422); their grammar is in the README.
    ("^/v1/segments(/preview|/\\{segment_id\\})?$", ["422"], "segment rule language"),
    ("^/v1/journeys(/validate|/\\{journey_id\\})?$", ["400", "422"], "journey definitions (JSON or YAML)"),
    # An experiment definition: arms whose weights sum to 100, a control among them, a metric on an event the
    # workspace knows (the README's "Experiments").
    ("^/v1/experiments(/\\{experiment_id\\})?$", ["400", "422"], "experiment definitions"),
    # A template's parts depend on its channel (a path parameter) and compile in the sandbox when saved.
    ("^/v1/templates/\\{key\\}/\\{channel\\}$", ["422"], "template parts per channel, compiled"),
    # So is a draft the adaptive preview renders, with its blocks' rules; and it names a saved one or gives one.
    ("^/v1/templates/preview-adaptive$", ["400", "422"], "template parts and adaptive rules, compiled"),
    # A declared event type names at least one property, each with a known type (the README's table).
    ("^/v1/tracking-plan/events/\\{event\\}$", ["400", "422"], "tracking plan property types"),
    # A customer's message: its identifiers are read as the channel's (a phone number, an e-mail address),
    # it has a body or an attachment, and a conversation the channel names must be that customer's.
    ("^/v1/conversations/inbound$", ["404", "422"], "customer identifiers and the named conversation"),
    # A reply is what its channel can carry (length by encoding, an address there) and within the
    # configured length; a snooze's time is in the future; a canned response compiles in the sandbox; a
    # period's start is before its end; a conversation holds at most 50 tags.
    ("^/v1/conversations/\\{conversation_id\\}/(replies|notes|status|snooze|tags)$", ["422"],
     "channel rules, snooze times, tag count"),
    ("^/v1/conversations/canned-responses(/\\{canned_id\\})?$", ["422"], "canned response compiles"),
    ("^/v1/conversations/stats$", ["422"], "start before end"),
    ("^/v1/feedback/nps$", ["422"], "since before until, at most ten years"),
    # An in-app message's content is one of the workspace's in_app templates (it must exist), and where it
    # sits depends on its layout; a report's start is on or before its end.
    ("^/v1/inapp/admin/messages(/\\{message\\})?$", ["422"], "the template exists, the layout's positions"),
    ("^/v1/inapp/admin/report$", ["422"], "start before end"),
    # A loyalty program's definition is a document of its own (earning rules, tiers with ascending
    # thresholds, rule ids used once), validated whole and every problem reported; its grammar is in the README.
    ("^/v1/loyalty/programs(/\\{program\\})?$", ["422"], "loyalty program definitions"),
    # Each imported product is read on its own and refused by index (the others stored): an id once a batch, a
    # price with no more decimals than its currency has (none for KRW), a known ISO 4217 code, an amount written
    # as text that reads as one, attributes within 16 KB.
    ("^/v1/catalog/products$", ["422"], "per-product rules"),
]
# An event stream never ends, so a request to it never completes here: the live feed is tested on a real
# server (tests/test_conversations_stream.py, tests/test_chat_stream.py).
ENDLESS = ["^/v1/conversations/stream$", "^/v1/chat/stream$"]
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]
# negative_data_rejection sends requests the document calls invalid and expects them refused. A body over
# the 4 MB request limit is refused before it is read (413, documented on every operation with a body): a
# string at its maxLength can exceed it once JSON-escaped (a 1,000,001-character note of astral
# characters is 12 MB of \uXXXX\uXXXX), so 413 is a refusal too.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]


def config(headers: dict[str, str]) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "headers": headers,
        "continue-on-failure": True,
        "generation": {"max-examples": EXAMPLES, "database": "none"},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTED}},
        "operations": [
            *({"include-path-regex": path,
               "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED + statuses}}}
              for path, statuses, _reason in SEMANTIC_REJECTIONS),
            *({"include-path-regex": path, "enabled": False} for path in ENDLESS),
        ],
    })


def run(schema: Any) -> Iterator[str]:
    """Every failed check, as schemathesis reports it; engine errors too."""
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE or check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    key = (check.name, str(event.label), failure.title)
                    if key in seen:
                        continue
                    seen.add(key)
                    case = event.recorder.cases[case_id].value
                    yield (f"{check.name} on {event.label}: {failure.title}\n    {failure.message}\n"
                           f"    {check.failure_info.code_sample or case.as_curl_command()}")
        elif isinstance(event, events.NonFatalError):
            yield f"error on {event.label}: {event.info.format()}"
        elif isinstance(event, events.FatalError):
            yield f"fatal: {event.exception!r}"


def test_the_document_states_errors_bodies_and_keys(client: TestClient) -> None:
    """What generated clients read: one error body for every 4xx (422 included: FastAPI's own
    ``HTTPValidationError`` is not what the API sends), the tracking bodies, and how to authenticate."""
    document = client.get("/openapi.json").json()
    components = document["components"]
    assert "HTTPValidationError" not in components["schemas"]
    assert set(components["securitySchemes"]) == {"writeKey", "bearerKey", "adminToken"}
    operations = [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]
    assert len(operations) >= 50
    for path, method, op in operations:
        for status, response in op["responses"].items():
            if status.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
        if path.startswith("/v1/") and not path.startswith("/v1/projects/"):
            assert op.get("security"), (method, path)
            assert {"401", "403"} <= set(op["responses"]), (method, path)
    for message_type in ("track", "identify", "page", "screen", "group", "alias", "batch", "import"):
        op = document["paths"][f"/v1/{message_type}"]["post"]
        body = op["requestBody"]
        assert body["required"] and "$ref" in body["content"]["application/json"]["schema"]
        assert {"writeKey": []} in op["security"] and {"bearerKey": []} in op["security"]
        assert {"200", "400", "401", "403", "413", "415"} <= set(op["responses"])
    assert document["paths"]["/v1/profiles"]["get"]["security"] == [{"adminToken": []}]
    ref = document["paths"]["/v1/track"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    track = components["schemas"][ref.rsplit("/", 1)[1]]
    assert {"event", "userId", "anonymousId", "properties", "timestamp"} <= set(track["properties"])


@pytest.mark.parametrize(("backend", "key"), [("embedded", "write key"), ("embedded", "admin token"),
                                            ("postgres", "admin token")])
def test_the_api_answers_as_its_openapi_document_says(stores: Stores, key: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(stores=stores, run_pump=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app,
                                            config=config(basic() if key == "write key" else bearer()))
    with caplog.at_level(logging.CRITICAL):  # 4xx by the thousand; a 5xx fails the run anyway
        failures = list(run(schema))
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
