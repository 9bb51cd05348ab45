"""Bulk import from JSONL and CSV: rejected rows reported by line; a re-run adds nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlalchemy as sa
from typer.testing import CliRunner

from touchline.customers.service import view as get_profile
from touchline.ingest.importer import csv_row_to_message, import_file
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.schema import events

GOOD = [
    {"type": "identify", "userId": "u1", "traits": {"email": "lee@example.com", "name": "이서연"},
     "timestamp": "2026-10-01T10:00:00Z"},
    {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": 45000},
     "timestamp": "2026-10-02T10:00:00Z"},
]


def write_jsonl(path: Path, rows: list[object], bad_line: str | None = None) -> Path:
    lines = [orjson.dumps(r).decode() for r in rows]
    if bad_line is not None:
        lines.insert(1, bad_line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def event_count(stores: Stores) -> int:
    stores.pump()
    with stores.events_conn() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def test_jsonl_import_reports_bad_lines_and_is_idempotent(stores: Stores, workspace_id: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", [*GOOD, {"type": "track", "userId": "u2"}], bad_line="{oops")
    report = import_file(stores, workspace_id, path)
    assert (report.rows, report.accepted, report.duplicates) == (4, 2, 0)
    assert [(r.line, r.field) for r in report.rejected] == [(2, "(line)"), (4, "(message)")]
    assert "malformed JSON" in report.rejected[0].reason
    assert "event name" in report.rejected[1].reason
    again = import_file(stores, workspace_id, path)
    assert (again.accepted, again.duplicates) == (0, 2)
    assert event_count(stores) == 2
    view = get_profile(stores, workspace_id, "email:lee@example.com")
    assert view["traits"]["name"] == "이서연"


def test_csv_import_builds_nested_fields_and_keeps_ids_as_text(stores: Stores, workspace_id: str,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "type,userId,event,timestamp,properties.revenue,properties.order_id,traits.phone,context.channel\n"
        "track,u7,Order Completed,2026-10-03T09:00:00Z,129000,000123,010-9876-5432,store\n"
        "track,,Order Completed,2026-10-03T09:00:00Z,1000,9,,store\n"
        "identify,u7,,2026-10-03T08:00:00Z,,,010-9876-5432,store\n",
        encoding="utf-8",
    )
    report = import_file(stores, workspace_id, path)
    assert report.accepted == 2
    assert [(r.line, r.reason) for r in report.rejected] == [(3, "either userId or anonymousId is required")]
    assert import_file(stores, workspace_id, path).accepted == 0
    view = get_profile(stores, workspace_id, "phone:+821098765432")
    order = next(e for e in view["timeline"] if e["event"] == "Order Completed")
    assert order["properties"] == {"revenue": 129000, "order_id": "000123"}
    assert order["channel"] == "store"


def test_csv_cells_become_typed_values() -> None:
    message = csv_row_to_message(
        {"event": "Viewed", "userId": "007", "properties.price": "9900", "properties.tags": '["a","b"]',
         "properties.flag": "true", "properties.note": "안녕", "properties.zip": "06236"},
        "track",
    )
    assert message == {"type": "track", "event": "Viewed", "userId": "007",
                       "properties": {"price": 9900, "tags": ["a", "b"], "flag": True, "note": "안녕",
                                      "zip": "06236"}}


def test_import_command_prints_a_report(settings: Settings, tmp_path: Path, monkeypatch: object) -> None:
    from touchline.cli.main import app

    path = write_jsonl(tmp_path / "e.jsonl", GOOD, bad_line='{"type": "track"}')
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(path), "--json"], env=env)
    assert result.exit_code == 1, result.output  # rejected rows make a non-zero exit
    report = orjson.loads(result.stdout)
    assert report["accepted"] == 2
    assert report["rejected"][0]["line"] == 2
    again = runner.invoke(app, ["import", str(path), "--json"], env=env)
    assert orjson.loads(again.stdout)["duplicates"] == 2


# An export not written for Segment (the columns of a public e-commerce behaviour data set).
EXPORT = """event_time,event_type,product_id,category_code,brand,price,user_id,user_session
2019-10-01 00:00:00 UTC,view,44600062,,shiseido,35.79,541312140,72d76fde-8bb3
2019-10-01 00:00:04 UTC,cart,3900821,appliances.water_heater,aqua,33.20,541312140,72d76fde-8bb3
2019-10-01 00:02:01 UTC,purchase,3900821,appliances.water_heater,aqua,33.20,541312140,72d76fde-8bb3
2019-10-01 00:03:00 UTC,view,17200506,furniture.sofa,,543.10,,
"""
EXPORT_MAP = ["--map", "event_time=timestamp", "--map", "event_type=event", "--map", "user_id=userId",
              "--map", "user_session=context.session_id", "--event", "view=Product Viewed",
              "--event", "cart=Product Added", "--event", "purchase=Order Completed"]


def test_csv_mapping_renames_columns_and_events_and_keeps_the_rest_as_properties() -> None:
    from touchline.ingest.importer import CsvMapping

    mapping = CsvMapping({"user_id": "userId", "event_time": "timestamp", "kind": "event", "sku": "properties.id"},
                         {"purchase": "Order Completed"})
    row = {"kind": "purchase", "user_id": "42", "event_time": "2019-10-01 00:00:01 UTC", "sku": "0077",
           "price": "543.10", "brand": "aqua"}
    assert csv_row_to_message(row, "track", mapping) == {
        "type": "track", "event": "Order Completed", "userId": "42", "timestamp": "2019-10-01T00:00:01+00:00",
        "properties": {"id": "0077", "price": 543.1, "brand": "aqua"}}
    assert csv_row_to_message({"userId": "42", "tier": "gold"}, "identify") == {
        "type": "identify", "userId": "42", "traits": {"tier": "gold"}}


def test_an_export_imports_with_a_mapping_and_a_row_without_ids_is_reported(
        settings: Settings, stores: Stores, workspace_id: str, tmp_path: Path) -> None:
    from touchline.cli.main import app

    path = tmp_path / "export.csv"
    path.write_text(EXPORT, encoding="utf-8")
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(path), "--json", *EXPORT_MAP], env=env)
    assert result.exit_code == 1, result.output  # the last row has no user: reported, the others kept
    report = orjson.loads(result.stdout)
    assert report["accepted"] == 3
    assert report["rejected"] == [{"line": 5, "field": "(message)",
                                   "reason": "either userId or anonymousId is required"}]
    stores.pump()
    profile = get_profile(stores, workspace_id, "541312140")
    timeline = sorted(profile["timeline"], key=lambda e: e["timestamp"])
    assert [e["event"] for e in timeline] == ["Product Viewed", "Product Added", "Order Completed"]
    assert timeline[2]["properties"] == {"product_id": "3900821", "category_code": "appliances.water_heater",
                                         "brand": "aqua", "price": 33.2}
    bad = runner.invoke(app, ["import", str(path), "--map", "user_id"], env=env)
    assert bad.exit_code == 2 and "--map takes COLUMN=FIELD" in bad.output


# The first rows of the UCI "Online Retail" data set as it is usually exported: US month/day dates in
# the shop's local (UK) time, no event column, and a row without a customer.
RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,7/1/2011 8:26,3.39,17850,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,,United Kingdom
"""
RETAIL_MAP = ["--map", "InvoiceDate=timestamp", "--map", "CustomerID=userId", "--map", "InvoiceNo=properties.order_id"]


def test_time_format_zone_and_constant_fields(settings: Settings, stores: Stores, workspace_id: str,
                                              tmp_path: Path) -> None:
    from touchline.cli.main import app

    path = tmp_path / "retail.csv"
    path.write_text(RETAIL, encoding="utf-8")
    env = _cli_env(settings)
    runner = CliRunner()
    plain = runner.invoke(app, ["import", str(path), "--json", *RETAIL_MAP], env=env)
    assert plain.exit_code == 1
    hints = orjson.loads(plain.stdout)["rejected"]
    assert hints[0] == {"line": 2, "field": "timestamp", "reason": "'12/1/2010 8:26' is not an ISO 8601 date-time; "
                        "give the file's format with --time-format, e.g. '%m/%d/%Y %H:%M'"}

    result = runner.invoke(app, ["import", str(path), "--json", *RETAIL_MAP, "--time-format", "%m/%d/%Y %H:%M",
                                 "--timezone", "Europe/London", "--set", "event=Order Completed",
                                 "--set", "properties.currency=GBP"], env=env)
    report = orjson.loads(result.stdout)
    assert report["accepted"] == 2
    assert report["rejected"] == [{"line": 4, "field": "(message)",
                                   "reason": "either userId or anonymousId is required"}]
    stores.pump()
    timeline = sorted(get_profile(stores, workspace_id, "user_id:17850")["timeline"], key=lambda e: e["timestamp"])
    assert [e["event"] for e in timeline] == ["Order Completed", "Order Completed"]
    # London local time: GMT in December, BST (UTC+1) in July.
    assert [e["timestamp"].isoformat()[:16] for e in timeline] == ["2010-12-01T08:26", "2011-07-01T07:26"]
    assert timeline[0]["properties"] == {"order_id": "536365", "StockCode": "85123A", "Quantity": 6,
                                         "Description": "WHITE HANGING HEART T-LIGHT HOLDER", "UnitPrice": 2.55,
                                         "Country": "United Kingdom", "currency": "GBP"}

    wrong = runner.invoke(app, ["import", str(path), "--json", *RETAIL_MAP, "--time-format", "%Y-%m-%d"], env=env)
    assert orjson.loads(wrong.stdout)["rejected"][0]["reason"] == (
        "'12/1/2010 8:26' does not match --time-format '%Y-%m-%d'")
    zone = runner.invoke(app, ["import", str(path), "--timezone", "Mars/Olympus"], env=env)
    assert zone.exit_code == 2 and "is not a time zone" in zone.output


def test_a_korean_excel_export_needs_its_encoding(settings: Settings, stores: Stores, workspace_id: str,
                                                  tmp_path: Path) -> None:
    from touchline.cli.main import app

    path = tmp_path / "customers.csv"
    path.write_bytes("type,userId,traits.name,traits.city\nidentify,k-1,김지은,서울특별시\n".encode("cp949"))
    env = _cli_env(settings)
    runner = CliRunner()
    refused = runner.invoke(app, ["import", str(path)], env=env)
    assert refused.exit_code == 1 and "--encoding" in refused.output and "cp949" in refused.output
    result = runner.invoke(app, ["import", str(path), "--encoding", "cp949", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert get_profile(stores, workspace_id, "k-1")["traits"] == {"name": "김지은", "city": "서울특별시"}


def _cli_env(settings: Settings) -> dict[str, str]:
    env = {"TOUCHLINE_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {"TOUCHLINE_DATABASE_URL": settings.database_url, "TOUCHLINE_EVENTS_URL": str(settings.events_url)}
    return env


def test_rejected_rows_are_listed_in_file_order(stores: Stores, workspace_id: str, tmp_path: Path) -> None:
    """Rows the file cannot give (malformed JSON) and rows ingestion refuses (no id) come out in file order."""
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([
        orjson.dumps(GOOD[0]).decode(),
        orjson.dumps({"type": "track", "event": "Product Viewed"}).decode(),  # line 2: no id
        "{oops",  # line 3
        orjson.dumps({"type": "track", "userId": "u3"}).decode(),  # line 4: no event name
        "[1, 2",  # line 5
        orjson.dumps(GOOD[1]).decode(),
    ]) + "\n", encoding="utf-8")
    report = import_file(stores, workspace_id, path)
    assert [r.line for r in report.rejected] == [2, 3, 4, 5] and report.accepted == 2
    small = import_file(stores, workspace_id, path, batch_size=2)  # across batches too
    assert [r.line for r in small.rejected] == [2, 3, 4, 5]
