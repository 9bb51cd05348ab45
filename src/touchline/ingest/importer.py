"""Bulk import of Segment messages from JSONL or CSV files, through the ingestion service.

Re-running a file adds nothing: a row without a messageId gets one derived from the row's content,
so the same row always has the same id (in this file or any other).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from touchline.ingest.quality import plan_for
from touchline.ingest.service import IngestResult, ingest, parse_items

if TYPE_CHECKING:
    from touchline.store.engines import Stores

# Top-level Segment fields a CSV column may name directly; anything else is "properties.x" etc.
_TOP_LEVEL = {"type", "event", "name", "category", "userId", "anonymousId", "messageId", "timestamp",
              "groupId", "previousId", "sentAt", "originalTimestamp"}
_NESTED = ("properties", "traits", "context", "integrations")
# Values that look like numbers but are identifiers: never turn them into numbers.
_KEEP_TEXT = {"phone", "zip", "postal_code", "postalCode", "id", "sku", "order_id", "cart_id", "product_id"}


@dataclass
class Rejection:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def detect_format(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    return "jsonl"


def _jsonl_rows(handle: IO[bytes]) -> Iterator[tuple[int, Any, bytes]]:
    for number, line in enumerate(handle, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            yield number, orjson.loads(stripped), stripped
        except orjson.JSONDecodeError as exc:
            yield number, _Malformed(f"malformed JSON: {exc}"), stripped


class _Malformed:
    def __init__(self, reason: str, field: str = "(line)") -> None:
        self.reason = reason
        self.field = field


class RowError(ValueError):
    """A CSV cell that cannot become the field it is mapped to."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _cell(column: str, value: str) -> Any:
    if value == "":
        return None
    leaf = column.rsplit(".", 1)[-1]
    if column in _TOP_LEVEL or leaf in _KEEP_TEXT:
        return value
    if value[0] in "{[" or value in ("true", "false", "null"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return parsed if isinstance(parsed, int | float) else value


@dataclass(frozen=True)
class CsvMapping:
    """How a CSV that was not written for Segment becomes messages: ``columns`` renames columns to
    Segment fields (``user_id`` -> ``userId``, ``price`` -> ``properties.price``), ``events`` renames
    event values (``purchase`` -> ``Order Completed``). Columns that name no Segment field land in the
    message's ``properties`` (``traits`` for identify and group rows), not at its top level, where
    nothing would read them."""

    columns: dict[str, str] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    # Fields every row gets unless it has a cell of its own: ``event`` = ``Order Completed`` for an
    # export of orders, ``properties.currency`` = ``GBP``.
    constants: dict[str, str] = field(default_factory=dict)
    # How the file writes its time stamps when not in ISO 8601 (a ``strftime`` format such as
    # ``%m/%d/%Y %H:%M``), and the zone of those without an offset (UTC if unset).
    time_format: str | None = None
    timezone: str | None = None


_TIME_FIELDS = {"timestamp", "sentAt", "originalTimestamp"}
_TRAIT_TYPES = {"identify", "group"}


def _time_text(value: str) -> str:
    """Spellings of UTC that exports use and ISO 8601 does not ('2019-10-01 00:00:00 UTC')."""
    for suffix in (" UTC", " GMT", " Z"):
        if value.endswith(suffix):
            return value[: -len(suffix)] + "+00:00"
    return value


def _time_value(column: str, value: str, mapping: CsvMapping) -> str:
    """An ISO 8601 time stamp with an offset, from what the file writes."""
    text = _time_text(value)
    if mapping.time_format:
        try:
            parsed = dt.datetime.strptime(text, mapping.time_format)
        except ValueError as exc:
            raise RowError(column, f"{value!r} does not match --time-format {mapping.time_format!r}") from exc
    else:
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            if text.lstrip("-").replace(".", "", 1).isdigit():
                return text  # epoch seconds, as Segment accepts them
            raise RowError(column, f"{value!r} is not an ISO 8601 date-time; give the file's format with "
                                   "--time-format, e.g. '%m/%d/%Y %H:%M'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(mapping.timezone) if mapping.timezone else dt.UTC)
    return parsed.isoformat()


def csv_row_to_message(row: dict[str, str], default_type: str, mapping: CsvMapping | None = None) -> dict[str, Any]:
    mapping = mapping or CsvMapping()
    message: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    cells = [(mapping.columns.get(c.strip(), c.strip()), raw) for c, raw in row.items() if c is not None]
    present = {c for c, raw in cells if raw not in ("", None)}
    cells += [(c, v) for c, v in mapping.constants.items() if c not in present]
    for column, raw in cells:
        value = _cell(column, raw if isinstance(raw, str) else "")
        if value is None:
            continue
        head, _, rest = column.partition(".")
        if head in _NESTED and rest:
            target = message.setdefault(head, {})
            parts = rest.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        elif column in _TOP_LEVEL:
            if column in _TIME_FIELDS and isinstance(value, str):
                value = _time_value(column, value.strip(), mapping)
            if column == "event" and isinstance(value, str):
                value = mapping.events.get(value, value)
            message[column] = value
        else:
            extra[column] = value
    message.setdefault("type", default_type)
    if extra:
        nested = "traits" if message["type"] in _TRAIT_TYPES else "properties"
        bucket = message.setdefault(nested, {})
        if isinstance(bucket, dict):
            for key, value in extra.items():
                bucket.setdefault(key, value)
    return message


def _csv_rows(text: IO[str], default_type: str, delimiter: str,
              mapping: CsvMapping | None) -> Iterator[tuple[int, Any, bytes]]:
    reader = csv.DictReader(text, delimiter=delimiter)
    for row in reader:
        line = reader.line_num
        raw = orjson.dumps(row)
        if None in row:
            yield line, _Malformed("row has more cells than the header"), raw
            continue
        try:
            yield line, csv_row_to_message(row, default_type, mapping), raw
        except RowError as exc:
            yield line, _Malformed(exc.reason, exc.field), raw


def import_file(
    stores: Stores,
    workspace_id: str,
    path: Path,
    *,
    fmt: str | None = None,
    default_type: str = "track",
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    mapping: CsvMapping | None = None,
    encoding: str = "utf-8-sig",
) -> ImportReport:
    """Import every row; returns counts and the rejected rows with their line numbers. A file that is
    not text in ``encoding`` raises ``UnicodeDecodeError`` (the rows before it are imported)."""
    fmt = detect_format(path, fmt)
    report = ImportReport()
    settings = stores.settings
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown format {fmt!r}; use jsonl or csv")
    with path.open("rb") as handle, io.TextIOWrapper(handle, encoding=encoding, newline="") as text:
        if fmt == "csv":
            rows = _csv_rows(text, default_type, "\t" if path.suffix.lower() == ".tsv" else ",", mapping)
        else:
            rows = _jsonl_rows(handle)
        batch: list[tuple[int, Any, bytes]] = []
        for item in rows:
            batch.append(item)
            if len(batch) >= batch_size:
                _flush(stores, workspace_id, batch, report, settings.max_event_bytes,
                       settings.default_phone_region)
                if progress:
                    progress(handle.tell())
                batch = []
        if batch:
            _flush(stores, workspace_id, batch, report, settings.max_event_bytes,
                   settings.default_phone_region)
        if progress:
            progress(handle.tell())
    return report


def _flush(stores: Stores, workspace_id: str, batch: list[tuple[int, Any, bytes]], report: ImportReport,
           max_event_bytes: int, phone_region: str) -> None:
    report.rows += len(batch)
    items: list[Any] = []
    lines: list[int] = []
    raws: list[bytes] = []
    rejected: list[Rejection] = []
    for line, message, raw in batch:
        if isinstance(message, _Malformed):
            rejected.append(Rejection(line, message.field, message.reason))
            continue
        items.append(message)
        lines.append(line)
        raws.append(raw)

    def derived_id(index: int, _payload: str) -> str:
        return "import-" + hashlib.sha256(raws[index]).hexdigest()[:32]

    now = dt.datetime.now(dt.UTC)
    events, bad = parse_items(items, received_at=now, batch_sent_at=None, default_type=None,
                              max_event_bytes=max_event_bytes, phone_region=phone_region, source="import",
                              message_id_fallback=derived_id, plan=plan_for(stores, workspace_id))
    rejected.extend(Rejection(lines[b["index"]], b["field"], b["reason"]) for b in bad)
    # In file order: rows the file could not give and rows the ingestion refused are found apart.
    report.rejected.extend(sorted(rejected, key=lambda r: r.line))
    result = ingest(stores, workspace_id, events, now=now, result=IngestResult())
    report.accepted += result.accepted
    report.duplicates += result.duplicates
