"""``touchline predict``: train the predictions now (purchase propensity, churn risk) and show their quality."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from touchline.cli._common import console, fail, opened_stores, print_json
from touchline.cli.data import Workspace, _workspace_id


def predict(
    kind: Annotated[list[str] | None, typer.Option(
        "--kind", help="purchase or churn (repeat for both; default both).")] = None,
    as_of: Annotated[str | None, typer.Option(
        help="The moment the scores hold for, ISO date or date-time (default now).")] = None,
    show: Annotated[bool, typer.Option("--show", help="Show the newest models without training.")] = False,
    workspace: Workspace = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Backtest and train the predictions, write every customer's scores as the traits purchase_propensity and
    churn_risk, and print each model's quality (AUC, Brier score, calibration error, lift in the top decile).
    The server and `touchline worker` also retrain on their own every TOUCHLINE_PREDICTION_RETRAIN_HOURS."""
    from touchline.predictions import report, service

    kinds = list(dict.fromkeys(kind or service.KINDS))
    unknown = [k for k in kinds if k not in service.SPECS]
    if unknown:
        fail(f"unknown kind {unknown[0]!r}; kinds are {', '.join(service.KINDS)}", 2)
    moment = None
    if as_of is not None:
        try:
            moment = dt.datetime.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of {as_of!r} is no ISO date or date-time", 2)
        moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    with opened_stores() as stores:
        workspace_id = _workspace_id(stores, workspace)
        if show:
            rows = [m for m in service.latest(stores, workspace_id) if m["kind"] in kinds]
        else:
            with console.status("training …"):
                rows = service.train(stores, workspace_id, now=moment, kinds=kinds)
    if as_json:
        print_json({"models": rows})
        return
    if not rows:
        console.print("No model trained yet: run `touchline predict`.")
        return
    table = Table("prediction", "trait", "status", "AUC", "Brier", "calibration error", "top-decile lift",
                  "customers scored", "seconds", title="Predictions")
    for m in rows:
        cells = report.cells(m)
        table.add_row(cells["name"], m["trait"], m["status"], cells["auc"], cells["brier"], cells["calibration"],
                      cells["lift"], f"{m['scored']:,}", cells["seconds"])
    console.print(table)
    for m in rows:
        if m.get("reason"):
            console.print(f"{m['kind']}: {m['reason']}", highlight=False)
