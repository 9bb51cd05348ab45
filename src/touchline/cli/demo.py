"""``touchline demo``: fill the embedded stores with a realistic shop and show what came in."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from touchline.cli._common import console, opened_stores
from touchline.cli.data import _workspace_id, move_staged_events
from touchline.settings import Settings
from touchline.store.engines import Stores


def _demo_keys(stores: Stores, workspace_id: str) -> tuple[str, str]:
    """Fresh demo keys for the quick tour; the previous demo keys are revoked."""
    from touchline.workspaces import service, store

    settings = stores.settings
    now = dt.datetime.now(dt.UTC)
    with stores.write() as conn:
        for key in store.list_keys(conn, workspace_id):
            if key["label"] == "demo" and key["revoked_at"] is None:
                store.revoke_key(conn, workspace_id, key["id"], now)
        write = (settings.write_key.get_secret_value() if settings.write_key
                 else service.create_key(conn, workspace_id, "write", "demo"))
        admin = (settings.admin_token.get_secret_value() if settings.admin_token
                 else service.create_key(conn, workspace_id, "admin", "demo"))
    return write, admin


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _interval(interval: list[float] | None) -> str:
    """The lift's 95 % interval, and whether it could be chance (the interval holds 0)."""
    if not interval:
        return ""
    low, high = interval
    chance = ", may be chance" if low <= 0 <= high else ""
    return f" (95% CI {low * 100:+.1f} to {high * 100:+.1f}{chance})"


def _print_journeys(report: list[dict[str, Any]]) -> None:
    """One table row per journey where the terminal is wide enough, else a short block per journey
    (eight columns squeezed into 80 cut every cell to a few letters)."""
    rows = []
    for j in report:
        sent = ", ".join(f"{ch} {n:,}" for ch, n in j["sent"].items()) or "–"
        suppressed = ", ".join(f"{r} {n:,}" for r, n in j["suppressed"].items()) or "–"
        if j["pending"]:
            suppressed += f" ({j['pending']:,} waiting for morning)"
        holdout = (f"{j['holdout']:,} runs, {j['holdout_converted']:,} converted, {_rate(j['holdout_rate'])}"
                   if j["holdout"] else "–")
        lift = "–" if j["lift"] is None else f"{j['lift'] * 100:+.1f} pts" + _interval(j.get("lift_interval"))
        rows.append((j, sent, suppressed, holdout, lift))
    if console.width >= 160:
        table = Table("journey", "entered", "sent by channel", "suppressed by reason", "converted",
                      "conversion", "holdout", "lift", title="Journeys (simulated clock)")
        for j, sent, suppressed, holdout, lift in rows:
            table.add_row(f"{j['name']}\n[dim]{j['journey_id']}[/]", f"{j['entered']:,}", sent, suppressed,
                          f"{j['converted']:,}", _rate(j["rate"]), holdout, lift)
        console.print(table)
    else:
        console.rule("Journeys (simulated clock)")
        for j, sent, suppressed, holdout, lift in rows:
            console.print(f"[bold]{j['name']}[/] [dim]{j['journey_id']}[/]")
            console.print(f"  entered {j['entered']:,} · converted {j['converted']:,} ({_rate(j['rate'])})",
                          highlight=False)
            if j["holdout"]:
                console.print(f"  holdout     {holdout} · lift {lift}", highlight=False)
            console.print(f"  sent        {sent}", highlight=False)
            console.print(f"  suppressed  {suppressed}", highlight=False)
    console.print("Messages were [bold]recorded[/] in the outbox by development channels, [bold]not delivered[/]: "
                  "the demo has no SMTP, SMS or messenger provider. Advertising waits out quiet hours "
                  "(21:00–08:00 in each customer's time zone) and respects consent and the daily cap.")


def _print_experiments(tested: dict[str, Any]) -> None:
    """Each experiment's arms (exposed, converted, chance to beat control) and its verdict."""
    console.print(f"Experiments ({tested['seconds']:.1f} s; dashboard: /experiments):", highlight=False)
    for experiment_id, e in tested["experiments"].items():
        arms = ", ".join(f"{name} {a['conversions']:,}/{a['exposures']:,}"
                         + (f" ({a['chance_to_beat']:.0%} to beat control)" if a["chance_to_beat"] is not None else "")
                         for name, a in e["arms"].items())
        console.print(f"  {experiment_id}: {arms}", highlight=False)
        weights = ", ".join(f"{name} {w:.0%}" for name, w in e["weights"].items())
        extra = f" Bandit traffic now: {weights} ({e['weight_changes']} changes)." if e["weight_changes"] else ""
        console.print(f"    {e['verdict_text']['en']}{extra}", highlight=False)


def _print_assistant(helped: Any) -> None:
    """Proactive chat against its holdout, and what the assistant resolved by itself."""
    lift, total = helped.lift, helped.containment["total"]
    table = Table("group", "shoppers", "ordered within 24 h", "rate",
                  title=f"Proactive chat at checkout ({helped.shoppers:,} hesitating shoppers, "
                        f"{helped.seconds:.1f} s)")
    for name, label in (("treatment", "chat opened"), ("holdout", "holdout (nothing shown)")):
        group = lift[name]
        table.add_row(label, f"{group['offered']:,}", f"{group['converted']:,}", _rate(group["rate"]))
    console.print(table)
    shown = "–" if lift["lift"] is None else f"{lift['lift'] * 100:+.1f} points"
    console.print(f"Lift {shown}{_interval(lift['lift_interval'])}. The assistant "
                  f"answered {helped.answers:,} of {helped.questions:,} questions; of its "
                  f"{total['conversations']:,} conversations {total['contained']:,} contained, "
                  f"{total['handed_over']:,} handed over (dashboard: /assistant/report).", highlight=False)


def _print_loyalty(summary: Any) -> None:
    """The loyalty program after its simulated weeks."""
    totals, tiers, refs = summary.totals, summary.tiers, summary.referral_counts
    order = ("basic", "silver", "gold", "vip")
    tier_text = ", ".join(f"{k} {tiers.get(k, 0):,}" for k in order if k in tiers) or "–"
    console.print(f"Loyalty (하루마켓 멤버십, {summary.days} simulated days, {summary.seconds:.1f} s): "
                  f"{totals.get('accounts', 0):,} members ({tier_text}), {totals.get('balance', 0):,} points "
                  f"outstanding of {totals.get('earned', 0):,} earned; {summary.spends:,} spends at checkout, "
                  f"{summary.rewards_bought:,} rewards bought, {summary.coupons_used:,} coupons used, "
                  f"{summary.expired:,} lots expired; referrals: {refs.get('rewarded', 0):,} rewarded, "
                  f"{refs.get('ordered', 0):,} in the return window, {refs.get('rejected', 0):,} refused "
                  "(dashboard: /loyalty).", highlight=False)


def _print_try_it(write_key: str, admin_token: str, base: str, sample: str, *, journeys: bool, serve: bool,
                  user_id: str | None = None, loyalty: bool = False) -> None:
    """What to try next, as commands that paste as they are: each on a line of its own, with no box around
    it and no line break inserted where the terminal is narrow (the terminal wraps it; copying gives the
    whole command). The keys go into variables once, so the commands stay short."""
    console.rule("Try it")
    steps: list[tuple[str, list[str]]] = [
        ("Keep the keys (a new terminal needs them again):",
         [f"export WRITE_KEY={write_key}", f"export ADMIN_TOKEN={admin_token}"]),
    ]
    if not serve:
        steps.append(("Start the API:", ["touchline serve &"]))
    auth = '-H "Authorization: Bearer $ADMIN_TOKEN"'
    steps.append(("Read a customer:", [f"curl -s {auth} {base}/v1/profiles/{sample}"]))
    steps.append(("Ask the shop assistant (from the FAQ at /v1/assistant/faq):",
                  [f"curl -s {auth} -H 'Content-Type: application/json' "
                   f"-d '{{\"question\": \"배송비 얼마예요?\"}}' {base}/v1/assistant/answer"]))
    if loyalty:
        steps.append(("A member's points, as the shop's checkout reads them (write key):",
                      [f"curl -s -u \"$WRITE_KEY:\" {base}/v1/loyalty/programs/members/customers/{sample}"]))
    steps.append(("What the in-app SDK and the apps are offered (the banner after three views of a product; the "
                  "demo product page: TOUCHLINE_DEMO_STOREFRONT=true touchline serve, then /demo-shop/product/P10001):",
                  [f"curl -s -u \"$WRITE_KEY:\" '{base}/v1/inapp/messages?user=user_id:{user_id or 'new-visitor'}'"]))
    if journeys:
        steps.append(("A journey step by step:", ["touchline journeys stats abandoned-cart",
                                                  f"curl -s {auth} {base}/v1/journeys/abandoned-cart/stats"]))
        steps.append(("What was sent:", [f"curl -s {auth} '{base}/v1/messages?journey_id=abandoned-cart'"]))
    for title, commands in steps:
        console.print(title, style="bold", highlight=False)
        for command in commands:
            console.print("  " + command, soft_wrap=True, highlight=False, markup=False, style="green")


def demo(
    customers: Annotated[int, typer.Option(help="How many customers to generate (scales to millions).")] = 10_000,
    days: Annotated[int, typer.Option(help="Days of history before now.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same shop.")] = 42,
    journeys: Annotated[bool, typer.Option(
        "--journeys/--no-journeys",
        help="Run the shop's five journeys over the last --simulate-days days, on a simulated clock.")] = True,
    simulate_days: Annotated[int, typer.Option(
        help="With --journeys: how many of the last days to replay hour by hour with the journeys running.")] = 14,
    inbox: Annotated[bool, typer.Option(
        "--inbox/--no-inbox",
        help="Give the shop agents, a team and conversations on every channel, delivered through the inbound "
             "endpoints over the last days.")] = True,
    assistant: Annotated[bool, typer.Option(
        "--assistant/--no-assistant",
        help="Switch proactive chat on (with a holdout) and have shoppers hesitate at checkout and ask the "
             "shop assistant, over the last --simulate-days days.")] = True,
    loyalty: Annotated[bool, typer.Option(
        "--loyalty/--no-loyalty",
        help="Run the shop's loyalty program (tiers, rewards, referrals) over the last 30 days of its history, "
             "on a simulated clock.")] = True,
    experiments: Annotated[bool, typer.Option(
        "--experiments/--no-experiments",
        help="Run an A/B/n test of the abandoned-cart reminder's copy and a bandit over its channel and timing, "
             "with shoppers who answer the arms differently, on a simulated clock.")] = True,
    inapp: Annotated[bool, typer.Option(
        "--inapp/--no-inapp",
        help="Have shoppers view products over the last --simulate-days days and see the in-app banner on the "
             "third view of one, through the in-app endpoints.")] = True,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API when done.")] = False,
    host: Annotated[str | None, typer.Option(help="With --serve: interface.")] = None,
    port: Annotated[int | None, typer.Option(help="With --serve: port.")] = None,
) -> None:
    """Generate a Korean/English online shop (catalog, customers, sessions on web, app, store and chat,
    funnels with drop-off, repeat purchases) through the ingestion API, run its journeys (abandoned cart,
    welcome series, win-back, new-store geofence, review request) over the last days on a simulated
    clock, then summarise it."""
    from touchline.assistant import service as assistant_service
    from touchline.demo.generator import estimate_messages, generate
    from touchline.demo.inapp import install_inapp_banner
    from touchline.demo.run import journey_report, summarize
    from touchline.demo.simulate import ReplaySummary
    from touchline.demo.simulate import run as run_with_journeys

    if customers < 1:
        console.print("--customers must be at least 1", style="red")
        raise typer.Exit(2)
    if journeys and not 1 <= simulate_days < days:
        console.print("--simulate-days must be at least 1 and less than --days", style="red")
        raise typer.Exit(2)
    settings = Settings()
    with opened_stores(settings) as stores:
        workspace_id = _workspace_id(stores, settings.default_workspace)
        where = "the configured stores" if settings.database_url else str(settings.data_dir.resolve())
        console.print(f"Generating a shop with {customers:,} customers over {days} days into [bold]{where}[/] …")
        started = time.perf_counter()
        replay: ReplaySummary | None = None
        report: list[dict[str, Any]] = []
        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[unit]}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            history = progress.add_task("ingesting", total=estimate_messages(customers), unit="messages")
            if journeys:
                clock = progress.add_task("simulated clock", total=simulate_days * 24, unit="hours", start=False)

                def tick(done: int, total: int) -> None:
                    progress.start_task(clock)
                    progress.update(history, completed=progress.tasks[history].total)
                    progress.update(clock, completed=done, total=total)

                result, replay = run_with_journeys(
                    stores, workspace_id, customers=customers, seed=seed, days=days, simulated_days=simulate_days,
                    progress=lambda done: progress.update(history, completed=done), clock_progress=tick)
            else:
                result = generate(stores, workspace_id, customers=customers, seed=seed, days=days,
                                  progress=lambda done: progress.update(history, completed=done))
        elapsed = time.perf_counter() - started
        move_staged_events(stores)
        conversations = None
        if inbox:
            from touchline.app import create_app
            from touchline.demo.inbox import open_inbox

            with console.status("delivering the inbox's conversations …"):
                conversations = open_inbox(stores, workspace_id, lambda clock: create_app(
                    stores=stores, run_pump=False, run_journeys=False, clock=clock), seed=seed)
        # The shop's FAQ for the assistant (seed/faq.yaml): entries not there yet are added, edited ones stay.
        faq_added = assistant_service.load_seed(stores, workspace_id)
        faq_total = len(assistant_service.faq_entries(stores, workspace_id))
        # Its catalog, through the catalog's import (what POST /v1/catalog/products does): the assistant
        # answers product questions from it; a second run changes nothing.
        from touchline.demo.shop_assistant import load_catalog

        catalog_loaded = load_catalog(stores, workspace_id).summary()
        # The in-app banner for shoppers who viewed the same product three times (kept as the shop left it),
        # and shoppers who see it on the product pages over the last days.
        banner = install_inapp_banner(stores, workspace_id)
        shown = None
        if inapp:
            from touchline.app import create_app
            from touchline.demo.inapp import run_inapp_shoppers

            with console.status("shoppers view products and see the in-app banner …"):
                shown = run_inapp_shoppers(stores, workspace_id, lambda clock: create_app(
                    stores=stores, run_pump=False, run_journeys=False, clock=clock), seed=seed,
                    days=min(simulate_days, days - 1) if days > 2 else 1)
                move_staged_events(stores)
        helped = None
        if assistant:
            from touchline.app import create_app
            from touchline.demo.assistant import read_results, run_assistant

            with console.status("shoppers hesitate at checkout and ask the assistant …"):
                helped = run_assistant(stores, workspace_id, lambda clock: create_app(
                    stores=stores, run_pump=False, run_journeys=False, clock=clock), seed=seed, days=simulate_days)
                move_staged_events(stores)
                read_results(stores, workspace_id, helped, days=simulate_days)
        points = None
        if loyalty:
            from touchline.demo.loyalty import run_loyalty

            with console.status("members earn, spend, refer and redeem points …"):
                move_staged_events(stores)
                points = run_loyalty(stores, workspace_id, seed=seed, days=min(30, days))
                move_staged_events(stores)
        # Customers answer NPS and CSAT surveys and review what they bought (moderated as a shop would).
        with console.status("customers answer surveys and review what they bought …"):
            from touchline.demo.feedback import simulate_feedback

            feedback_end = dt.datetime.now(dt.UTC)
            feedback = simulate_feedback(stores, workspace_id, start=feedback_end - dt.timedelta(days=min(days, 90)),
                                         end=feedback_end, seed=seed)
            move_staged_events(stores)
        tested = None
        if experiments:
            from touchline.demo.experiments import seed_experiments

            with console.status("shoppers meet the reminder's A/B/n test and the channel bandit …"):
                tested = seed_experiments(stores, workspace_id, shoppers=min(1200, max(100, customers // 8)),
                                          seed=seed)
        summary = summarize(stores, workspace_id)
        if replay is not None:
            report = journey_report(stores, workspace_id, replay.journeys)
        write_key, admin_token = _demo_keys(stores, workspace_id)

    table = Table(title="Demo shop", show_header=False)
    accepted, duplicates, rejected = result.accepted, result.duplicates, result.rejected
    if replay is None:
        table.add_row("messages sent", f"{result.messages:,} in {elapsed:.1f} s ({result.messages / elapsed:,.0f}/s)")
    else:
        accepted, duplicates, rejected = (accepted + replay.accepted, duplicates + replay.duplicates,
                                          rejected + replay.rejected)
        table.add_row("messages sent", f"{result.messages:,} generated + {replay.answers:,} answers to journey "
                                       f"messages, in {elapsed:.1f} s")
        table.add_row("simulated clock", f"{replay.start:%Y-%m-%d %H:%M} → {replay.end:%Y-%m-%d %H:%M} UTC, "
                                         f"{replay.steps:,} hourly ticks in {replay.seconds:.1f} s")
    table.add_row("accepted / duplicates / rejected", f"{accepted:,} / {duplicates:,} / {rejected:,}")
    table.add_row("profiles (after merging)", f"{summary['profiles']:,}")
    table.add_row("identified customers", f"{summary['identified']:,}")
    table.add_row("profile merges", f"{summary['merges']:,}")
    table.add_row("identities", f"{summary['identities']:,}")
    table.add_row("carts / orders", f"{result.carts:,} / {result.orders:,}")
    table.add_row("cart abandonment", f"{result.abandonment_rate:.1%}")
    table.add_row("revenue", f"₩{result.revenue_krw:,}")
    table.add_row("assistant FAQ entries", f"{faq_total:,} ({faq_added:,} added)")
    table.add_row("catalog products", f"{sum(catalog_loaded.values()):,} imported: {catalog_loaded['added']:,} added, "
                                      f"{catalog_loaded['updated']:,} updated, {catalog_loaded['unchanged']:,} "
                                      f"unchanged (dashboard: /catalog)")
    table.add_row("surveys and reviews", f"{feedback['nps']:,} NPS and {feedback['csat']:,} CSAT answers, "
                  f"{feedback['reviews']:,} reviews ({feedback['approved']:,} approved, {feedback['pending']:,} "
                  f"waiting; dashboard: /surveys, /reviews)")
    table.add_row("in-app banner", f"{banner['key']}: a product viewed 3 times (dashboard: /inapp)")
    if shown is not None:
        table.add_row("in-app banner shown", f"{shown.shown:,} times to {shown.shoppers:,} shoppers: {shown.clicked:,} "
                                             f"clicked ({shown.orders:,} ordered), {shown.dismissed:,} dismissed, "
                                             f"{shown.refused:,} held back by its frequency rule")
    console.print(table)
    by_channel = Table("channel", "events", title="Events by channel")
    for channel, count in summary["events_by_channel"].items():
        by_channel.add_row(channel, f"{count:,}")
    console.print(by_channel)
    if conversations is not None:
        delivered = ", ".join(f"{ch} {n}" for ch, n in sorted(conversations.delivered.items()))
        news = (f"conversations delivered through the inbound endpoints: {delivered} ({conversations.replies} "
                f"answered by agents)" if delivered else "no new conversations")
        console.print(f"Inbox: {news}, {conversations.existing} already there, in {conversations.seconds:.1f} s. "
                      f"Agents: {', '.join(conversations.agents)} (give one a password with: touchline users "
                      f"set-password EMAIL); dashboard: /inbox and /inbox/report.", highlight=False)
    if report:
        _print_journeys(report)
    if replay is not None and replay.predictions:
        console.print("Predictions (dashboard: /predictions): " + "; ".join(replay.predictions), highlight=False)
    if helped is not None:
        _print_assistant(helped)
    if points is not None:
        _print_loyalty(points)
    if tested is not None:
        _print_experiments(tested)
    sample = summary.get("sample_identifier") or "email:..."
    host = host or settings.host
    port = port or settings.port
    _print_try_it(write_key, admin_token, f"http://{host}:{port}", sample, journeys=bool(report), serve=serve,
                  user_id=summary.get("sample_user_id"), loyalty=points is not None)
    if serve:
        from touchline.cli.serve import serve as run_server

        run_server(host=host, port=port)
