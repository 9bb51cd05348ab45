"""The ``touchline`` command."""

from __future__ import annotations

import typer

from touchline.cli.catalog import catalog_app
from touchline.cli.data import import_command, profiles_app
from touchline.cli.demo import demo
from touchline.cli.journeys import journeys_app, templates_app, worker
from touchline.cli.keys import keys_app, workspaces_app
from touchline.cli.loyalty import loyalty_app
from touchline.cli.plan import plan_app
from touchline.cli.predict import predict
from touchline.cli.reports import report_app
from touchline.cli.segments import segments_app
from touchline.cli.serve import db_app, serve
from touchline.cli.users import users_app

app = typer.Typer(
    name="touchline",
    help="Touchline: self-hosted omnichannel customer engagement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve)
app.command("demo")(demo)
app.command("import")(import_command)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(profiles_app, name="profiles")
app.add_typer(segments_app, name="segments")
app.add_typer(plan_app, name="plan")
app.add_typer(report_app, name="report")
app.add_typer(journeys_app, name="journeys")
app.add_typer(templates_app, name="templates")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(catalog_app, name="catalog")
app.command("worker")(worker)
app.command("predict")(predict)
app.add_typer(users_app, name="users")

if __name__ == "__main__":
    app()
