"""Catalog files (``touchline catalog import``): CSV with a header row, or JSON lines, into import items, and
the import of a whole file in batches through :func:`touchline.catalog.service.import_products`.

CSV columns ``id, name, name_en, category, price, currency, stock, url, image_url`` (and ``category_slug``,
``category_en``, ``active``) are the product's fields; any other column becomes an attribute (a cell written
as a JSON list or object, ``["S","M"]`` or ``{"S":3}``, is read as one). An empty cell gives nothing.
JSON lines: one import item per line, as the API takes them. The text is UTF-8 with or without a BOM, or
CP949 (a superset of EUC-KR), which Korean shops' Excel exports use: ``auto`` tells them apart.

Reading never raises on what a row holds: a row that cannot become an item is refused with its line
number, field and reason, as the import refuses an item.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import orjson

from touchline.catalog import service
from touchline.catalog.fields import Problem
from touchline.ingest.plan import Invalid, read_integer

if TYPE_CHECKING:
    from touchline.store.engines import Stores

__all__ = ["FORMATS", "FileReport", "FileRow", "csv_rows", "detect_encoding", "import_file", "jsonl_rows"]

FORMATS: Final = ("csv", "jsonl")
TEXT_COLUMNS: Final = ("id", "name", "name_en", "category", "category_slug", "category_en", "price", "currency", "url",
                       "image_url")
_TRUE: Final = frozenset({"true", "1", "yes", "y", "예", "o"})
_FALSE: Final = frozenset({"false", "0", "no", "n", "아니오", "아니요", "x"})
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class FileRow:
    line: int  # where the row starts in the file (the header is line 1)
    item: dict[str, Any] | None
    problem: Problem | None = None
    id: str | None = None  # the row's product id, when it has one (a refused row is named by it too)


class FileProblem(ValueError):
    """The file as a whole cannot be read (no ``id`` column, say)."""


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` for UTF-8 with or without a BOM, else ``cp949``: what the file is written in, read
    through once (an invalid UTF-8 sequence may come late)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp949"
    return "utf-8-sig"


def _flag(value: str) -> bool | None:
    lowered = value.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def _attribute(value: str) -> Any:
    if value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def csv_item(row: dict[str, str]) -> dict[str, Any] | Problem:
    """One CSV row (header -> cell) as an import item, or why it cannot be one."""
    item: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for column, raw in row.items():
        value = (raw or "").strip()
        if not column or not value:
            continue
        if column in TEXT_COLUMNS:
            item[column] = value
        elif column == "stock":
            try:
                item["stock"] = read_integer(value)
            except Invalid as exc:
                return Problem("stock", exc.reason)
        elif column == "active":
            flag = _flag(value)
            if flag is None:
                return Problem("active", "true or false (1/0, yes/no, 예/아니오)")
            item["active"] = flag
        else:
            attributes[column] = _attribute(value)
    if attributes:
        item["attributes"] = attributes
    return item


def csv_rows(text: IO[str]) -> Iterator[FileRow]:
    """The rows of CSV text with a header row; raises :class:`FileProblem` for a header without ``id`` or
    with a column twice."""
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise FileProblem(f"the header row cannot be read: {exc}") from None
    columns = [name.strip().lstrip("\ufeff") for name in header]
    if "id" not in columns:
        raise FileProblem("the header row has no id column (columns: id, name, name_en, category, price, currency, "
                          "stock, url, image_url; any other becomes an attribute)")
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise FileProblem(f"the header row names a column twice: {', '.join(repeated)}")
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield FileRow(start, None, Problem("(line)", f"not a CSV row: {exc}"))
            if reader.line_num < start:  # the reader made no progress: nothing more can be read
                return
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            yield FileRow(start, None, Problem("(line)", "more cells than the header row has columns"))
            continue
        row = dict(zip(columns, cells, strict=False))
        read = csv_item(row)
        product_id = (row.get("id") or "").strip() or None
        yield FileRow(start, None, read, product_id) if isinstance(read, Problem) else FileRow(start, read)


def jsonl_rows(text: IO[str]) -> Iterator[FileRow]:
    """One import item per line; blank lines are skipped."""
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield FileRow(number, None, Problem("(line)", f"malformed JSON: {exc}"))
            continue
        if isinstance(item, dict):
            yield FileRow(number, item)
        else:
            yield FileRow(number, None, Problem("(line)", "not a JSON object"))


@dataclass(frozen=True, slots=True)
class Refusal:
    line: int
    id: str | None
    field: str
    reason: str


@dataclass
class FileReport:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "refused": [{"line": r.line, "id": r.id, "field": r.field, "reason": r.reason} for r in self.refused]}


def import_file(stores: Stores, workspace_id: str, path: Path, *, fmt: str | None = None, encoding: str = "auto",
                batch_size: int = 1000, progress: Callable[[int], None] | None = None) -> FileReport:
    """Import every row of ``path`` (CSV or JSON lines, by its extension unless ``fmt``), ``batch_size`` rows
    a transaction; ``progress`` hears the bytes read so far. A product id given again further down the file
    is refused (the first one stands), so the same file twice changes nothing."""
    fmt = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv")
    if fmt not in FORMATS:
        raise FileProblem(f"unknown format {fmt!r}: csv or jsonl")
    encoding = detect_encoding(path) if encoding == "auto" else encoding
    report = FileReport()
    first_line: dict[str, int] = {}
    with path.open("rb") as handle, io.TextIOWrapper(handle, encoding=encoding, newline="") as text:
        rows = csv_rows(text) if fmt == "csv" else jsonl_rows(text)
        batch: list[FileRow] = []
        for row in rows:
            report.rows += 1
            product_id = row.item.get("id") if row.item is not None else None
            if row.problem is not None:
                report.refused.append(Refusal(row.line, row.id, row.problem.field, row.problem.reason))
            elif isinstance(product_id, str) and product_id in first_line:
                report.refused.append(Refusal(row.line, product_id, "id",
                                              f"the same id as line {first_line[product_id]}"))
            else:
                if isinstance(product_id, str):
                    first_line[product_id] = row.line
                batch.append(row)
            if len(batch) >= batch_size:
                _flush(stores, workspace_id, batch, report)
                batch = []
                if progress:
                    progress(handle.tell())
        if batch:
            _flush(stores, workspace_id, batch, report)
        if progress:
            progress(handle.tell())
    report.refused.sort(key=lambda r: r.line)
    return report


def _flush(stores: Stores, workspace_id: str, batch: Sequence[FileRow], report: FileReport) -> None:
    result = service.import_products(stores, workspace_id, [row.item for row in batch])
    for row, outcome in zip(batch, result.items, strict=True):
        if outcome.result == "refused":
            report.refused.extend(Refusal(row.line, outcome.id, p.field, p.reason) for p in outcome.problems)
        elif outcome.result == "added":
            report.added += 1
        elif outcome.result == "updated":
            report.updated += 1
        else:
            report.unchanged += 1
