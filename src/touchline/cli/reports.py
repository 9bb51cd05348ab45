"""``touchline report``: the analytics as tables in the terminal."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from babel.numbers import format_currency
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.cli.data import Workspace, _workspace_id

report_app = typer.Typer(help="Reports over the event store: funnels, abandonment, conversion, cohorts, CLTV.",
                         no_args_is_help=True)
Days = Annotated[int, typer.Option(help="Period: the last N days.")]
Json = Annotated[bool, typer.Option("--json")]


def _period(days: int) -> tuple[dt.datetime, dt.datetime]:
    end = dt.datetime.now(dt.UTC)
    return end - dt.timedelta(days=days), end


@report_app.command("funnel")
def funnel(steps: Annotated[list[str], typer.Argument(help="Event names in order.")],
           days: Days = 30, window_hours: float = 168,
           by: Annotated[str | None, typer.Option(help="channel, device_type or first_touch_source")] = None,
           workspace: Workspace = "default", as_json: Json = False) -> None:
    """Conversion and drop-off through ordered steps, e.g.:
    touchline report funnel "Product Viewed" "Product Added" "Checkout Started" "Order Completed" """
    from touchline.analytics.service import Step
    from touchline.analytics.service import funnel as run

    if by not in (None, "channel", "device_type", "first_touch_source"):
        console.print("--by must be channel, device_type or first_touch_source", style="red")
        raise typer.Exit(2)
    with opened_stores() as stores:
        result = run(stores, _workspace_id(stores, workspace), [Step(s) for s in steps],
                     dt.timedelta(hours=window_hours), *_period(days), by)  # type: ignore[arg-type]
    if as_json:
        print_json(result)
        return
    for group, rows in result.groups.items():
        table = Table("step", "customers", "from previous", "from first", "dropped", "median time",
                      title=f"Funnel, last {days} days" + (f" — {group}" if by else ""))
        for r in rows:
            median = f"{r.median_seconds / 60:,.0f} min" if r.median_seconds is not None else ""
            table.add_row(r.event, f"{r.entered:,}", f"{r.conversion_from_previous:.1%}",
                          f"{r.conversion_from_first:.1%}", f"{r.dropped:,}", median)
        console.print(table)


@report_app.command("abandonment")
def abandonment(days: Days = 30, workspace: Workspace = "default", as_json: Json = False) -> None:
    """Carts started and not ordered."""
    from touchline.analytics.service import cart_abandonment

    with opened_stores() as stores:
        r = cart_abandonment(stores, _workspace_id(stores, workspace), *_period(days))
    if as_json:
        print_json(r)
        return
    console.print(f"{r.carts:,} carts, {r.ordered:,} ordered, {r.abandoned:,} abandoned: "
                  f"[bold]{r.abandonment_rate:.1%}[/] abandonment (last {days} days)")


@report_app.command("conversion")
def conversion(by: Annotated[str, typer.Option(help="channel or device_type")] = "channel", days: Days = 30,
               workspace: Workspace = "default", as_json: Json = False) -> None:
    """Visitors, buyers and conversion rate per channel or device."""
    from touchline.analytics.service import conversion_by

    if by not in ("channel", "device_type"):
        console.print("--by must be channel or device_type", style="red")
        raise typer.Exit(2)
    with opened_stores() as stores:
        rows = conversion_by(stores, _workspace_id(stores, workspace), by, *_period(days))  # type: ignore[arg-type]
    if as_json:
        print_json(rows)
        return
    table = Table(by, "visitors", "buyers", "conversion", title=f"Conversion, last {days} days")
    for r in rows:
        table.add_row(str(r.value), f"{r.visitors:,}", f"{r.buyers:,}", f"{r.rate:.1%}")
    console.print(table)


@report_app.command("cohorts")
def cohorts(period: Annotated[str, typer.Option(help="week or month")] = "month", days: Days = 180,
            cohort_event: Annotated[str | None, typer.Option(help="default: first seen")] = "Order Completed",
            return_event: Annotated[str | None, typer.Option(help="default: any event")] = "Order Completed",
            tz: str = "Asia/Seoul", workspace: Workspace = "default", as_json: Json = False) -> None:
    """Retention: of the customers who started in each period, the share back in later periods."""
    from touchline.analytics.service import retention_cohorts

    if period not in ("week", "month"):
        console.print("--period must be week or month", style="red")
        raise typer.Exit(2)
    with opened_stores() as stores:
        rows = retention_cohorts(stores, _workspace_id(stores, workspace), period, cohort_event,  # type: ignore[arg-type]
                                 return_event, *_period(days), tz)
    if as_json:
        print_json(rows)
        return
    width = max((len(r.percent) for r in rows), default=0)
    table = Table("cohort", "size", *[f"+{i}" for i in range(width)], title=f"Retention by {period} ({tz})")
    for r in rows:
        table.add_row(str(r.start), f"{r.size:,}", *[f"{p:.0f}%" for p in r.percent])
    console.print(table)


@report_app.command("cltv")
def cltv(horizon_days: int = 90, top: int = 10,
         as_of: Annotated[str | None, typer.Option(
             "--as-of", help="History up to here, the forecast from here: a date (that whole day) or an ISO "
                             "date-time; default now. For imported history, the day of its last order.")] = None,
         purchases: Annotated[str, typer.Option(
             help="What counts as one purchase: orders, or days (days with orders, the BTYD convention).")]
         = "orders",
         tz: Annotated[str | None, typer.Option(help="Time zone of a date --as-of and of purchase days "
                                                     "(default: TOUCHLINE_DEFAULT_TIMEZONE).")] = None,
         workspace: Workspace = "default", as_json: Json = False) -> None:
    """Customer lifetime value so far, and the expected value over the next horizon (BG/NBD + Gamma-Gamma)."""
    from touchline.analytics.service import cltv as run
    from touchline.analytics.service import parse_as_of
    from touchline.ingest.normalize import valid_timezone

    if purchases not in ("orders", "days"):
        fail("--purchases must be orders or days", 2)
    with opened_stores() as stores:
        zone = tz or stores.settings.default_timezone
        if valid_timezone(zone) is None:
            fail(f"--tz: unknown time zone {zone!r}", 2)
        try:
            moment = parse_as_of(as_of, zone) if as_of else None
        except ValueError:
            fail(f"--as-of takes a date (2011-12-09) or an ISO date-time, not {as_of!r}", 2)
        r = run(stores, _workspace_id(stores, workspace), as_of=moment, horizon_days=horizon_days, top=top,
                purchases=purchases, tz=zone)  # type: ignore[arg-type]
        currency = stores.settings.default_currency
    if as_json:
        print_json(r)
        return

    def money(value: float) -> str:
        return format_currency(value, currency, locale="en_US", format_type="standard")

    console.print(f"{r.customers:,} buyers, {r.orders:,} orders, {money(r.revenue)}; "
                  f"average order {money(r.average_order_value)}, {r.purchase_frequency:.2f} orders per buyer, "
                  f"average CLTV {money(r.average_cltv)}")
    if r.last_order_at is not None and r.as_of - r.last_order_at > dt.timedelta(days=max(horizon_days, 90)):
        day = r.last_order_at.astimezone(ZoneInfo(zone)).date()
        console.print(f"The newest order is from {day}, {(r.as_of - r.last_order_at).days:,} days before the "
                      f"forecast starts: every buyer counts as silent since then. For imported history, "
                      f"forecast from its end: --as-of {day}", style="yellow")
    unit = "purchase days" if r.purchases == "days" else "orders"
    if r.expected_value is not None:
        console.print(f"Next {horizon_days} days from {r.as_of.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} "
                      f"({zone}): {r.expected_purchases:,.0f} {unit} expected, {money(r.expected_value)}")
    table = Table("customer", "orders", "revenue", f"expected {unit}", "expected value", title="Top customers")
    for c in r.top:
        table.add_row(c.customer, str(c.orders), money(c.revenue), f"{c.expected_purchases:.2f}",
                      money(c.expected_value))
    console.print(table)
