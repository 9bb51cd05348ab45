"""``touchline catalog import`` on real files, both backends: a Korean Excel export in CP949 with a refused
line, read with a progress bar and reported by line; UTF-8 with a BOM; JSON lines; a second run changes
nothing. And the readers' property: whatever a row, a line or an event's product holds, reading it never
raises; a row is an item or a refusal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from touchline.catalog.fields import merge, read_event, read_item
from touchline.catalog.files import FileProblem, csv_rows, detect_encoding, jsonl_rows
from touchline.cli.main import app
from touchline.settings import Settings

HEADER = "id,name,name_en,category,price,currency,stock,url,image_url,sizes,소재,색상\n"
ROWS = [
    'knit-01,캐시미어 울 니트,Cashmere Wool Knit,니트,"59,000원",KRW,7,https://shop.example/knit-01,,'
    '"{""S"":2,""M"":5}",울 70%,베이지|네이비\n',
    "coat-01,롱 울 코트,Long Wool Coat,아우터,189000,,2,,,S/M/L,울,\n",
    "sock-01,양말 세트,,잡화,9900,KRW,열개,,,,,\n",  # stock is not a number: refused, line 4
    "bag-01,레더 크로스백,,가방,-5000,,1,,,,,\n",  # a negative price: refused, line 5
    "\n",
    "cap-01,볼캡,Ball Cap,잡화,15900,KRW,,,https://cdn.example/cap.jpg,FREE,면,\n",
]


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    values = {"TOUCHLINE_DATA_DIR": str(settings.data_dir), "COLUMNS": "160"}
    if settings.database_url:
        values |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    return values


def _run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def test_a_cp949_excel_export_with_a_refused_line(env: dict[str, str], tmp_path: Path, client: Any) -> None:
    from support import bearer

    path = tmp_path / "상품.csv"
    path.write_bytes((HEADER + "".join(ROWS)).encode("cp949"))
    assert detect_encoding(path) == "cp949"
    result = _run(env, "catalog", "import", str(path))
    assert result.exit_code == 1, result.output  # a refused row is an error the shop must see
    assert "importing products" in result.output and "bytes" in result.output  # the progress bar, at its end
    assert "5 rows: 3 added, 0 updated, 0 unchanged, 2 refused" in result.output
    assert "│ 4    │ sock-01 │ stock │ not a number" in result.output
    assert "│ 5    │ bag-01  │ price │ must not be negative" in result.output
    knit = client.get("/v1/catalog/products/knit-01", headers=bearer()).json()
    assert (knit["name"], knit["price"], knit["stock"]) == ("캐시미어 울 니트", 59000, 7)
    assert knit["attributes"] == {"sizes": {"S": 2, "M": 5}, "소재": "울 70%", "색상": "베이지|네이비"}
    cap = client.get("/v1/catalog/products/cap-01", headers=bearer()).json()
    assert cap["stock"] is None and cap["image_url"] == "https://cdn.example/cap.jpg"
    again = _run(env, "catalog", "import", str(path), "--json")
    report = orjson.loads(again.stdout)
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 0, 3)
    assert [(r["line"], r["field"]) for r in report["refused"]] == [(4, "stock"), (5, "price")]
    listed = orjson.loads(_run(env, "catalog", "list", "--q", "니트", "--json").stdout)
    assert [p["id"] for p in listed["products"]] == ["knit-01"]
    # The assistant answers from what the file gave.
    reply = client.post("/v1/assistant/answer", headers=bearer(), json={"question": "캐시미어 니트 M 사이즈 있어요?"})
    assert "M 재고 5개" in reply.json()["text"]


def test_utf8_with_a_bom_and_json_lines(env: dict[str, str], tmp_path: Path, client: Any) -> None:
    from support import bearer

    path = tmp_path / "products.csv"
    path.write_bytes(("\ufeff" + HEADER + ROWS[0] + ROWS[1]).encode("utf-8"))
    assert detect_encoding(path) == "utf-8-sig"
    result = _run(env, "catalog", "import", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["added"] == 2
    lines = tmp_path / "products.jsonl"
    lines.write_text("\n".join([
        orjson.dumps({"id": "knit-01", "price": 55000}).decode(),
        "{not json",
        orjson.dumps(["a list"]).decode(),
        orjson.dumps({"id": "tee-01", "name_en": "Tee", "price": 12.5, "currency": "USD"}).decode(),
        orjson.dumps({"id": "tee-02", "price": 12.345, "currency": "USD"}).decode(),
    ]) + "\n", encoding="utf-8")
    report = orjson.loads(_run(env, "catalog", "import", str(lines), "--json").stdout)
    assert (report["added"], report["updated"]) == (1, 1)
    assert [(r["line"], r["field"]) for r in report["refused"]] == [(2, "(line)"), (3, "(line)"), (5, "price")]
    assert "at most 2 decimals in USD" in report["refused"][2]["reason"]
    assert client.get("/v1/catalog/products/knit-01", headers=bearer()).json()["price"] == 55000


def test_a_file_that_cannot_be_read(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "no-id.csv"
    path.write_text("name,price\n니트,59000\n", encoding="utf-8")
    result = _run(env, "catalog", "import", str(path))
    assert result.exit_code == 1 and "no id column" in result.output
    wrong = tmp_path / "cp949.csv"
    wrong.write_bytes((HEADER + ROWS[0]).encode("cp949"))
    refused = _run(env, "catalog", "import", str(wrong), "--encoding", "utf-8")
    assert refused.exit_code == 1 and "is not utf-8 text" in refused.output
    assert _run(env, "catalog", "import", str(wrong), "--encoding", "klingon").exit_code == 2


# --- the readers never raise ------------------------------------------------------------------------------

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
_keys = st.sampled_from(["id", "name", "name_en", "category", "category_slug", "category_en", "price", "currency",
                         "stock", "url", "image_url", "attributes", "active", "product_id", "sku", "other"])
_items = st.dictionaries(_keys, _values, max_size=10) | _values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.sampled_from(["id,name,price,stock,sizes\n", "id\n", "name\n", ""]))
def test_csv_rows_are_items_or_refusals(body: str, header: str) -> None:
    try:
        rows = list(csv_rows(io.StringIO(header + body, newline="")))
    except FileProblem:
        assert "id" not in header.split("\n")[0].split(",")
        return
    for row in rows:
        assert (row.item is None) != (row.problem is None)
        assert row.line >= 2
        if row.item is not None:
            reading = read_item(row.item, shop_currency="KRW")
            assert reading.problems or reading.id is not None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=60), _items.map(lambda v: orjson.dumps(v).decode()
                                                             if _json_safe(v) else "null")), max_size=8))
def test_jsonl_lines_are_items_or_refusals(lines: list[str]) -> None:
    text = "\n".join(line.replace("\n", " ") for line in lines)
    for row in jsonl_rows(io.StringIO(text)):
        assert (row.item is None) != (row.problem is None)
        if row.item is not None:
            read_item(row.item, shop_currency="USD")


def _json_safe(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(_items, _values)
def test_any_item_or_event_product_is_read_without_raising(item: Any, currency: Any) -> None:
    import datetime as dt

    strict = read_item(item, shop_currency="KRW")
    if not strict.problems:
        assert strict.id is not None
        row = merge(None, [(strict, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))], source="import")
        assert row is not None and set(row["sources"].values()) <= {"import"}
    lenient = read_event(item, event_currency=currency)
    if lenient is not None:
        assert lenient.id and not any(v is None for cols in lenient.values.values() for k, v in cols.items()
                                      if k not in ("currency", "category_name"))
