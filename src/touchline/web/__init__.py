"""The dashboard: server-rendered pages (Jinja2) on the same FastAPI app as the API, signed in with
user accounts. ``mount(app)`` adds it; see :mod:`touchline.web.routes` for the pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

__all__ = ["mount", "plotly_js"]

STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` wheel (no CDN, nothing copied)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def mount(app: FastAPI) -> None:
    import plotly

    from touchline import assets

    # Each page module registers its pages on the dashboard's router as it is imported.
    from touchline.web import (  # noqa: F401
        assistant_pages,
        catalog_pages,
        experiment_pages,
        feedback_pages,
        inapp_pages,
        inbox_pages,
        journey_pages,
        loyalty_pages,
        message_pages,
        prediction_pages,
        quality_pages,
        recommendation_pages,
        routes,
        team_pages,
    )
    from touchline.web.http import environment, router

    version = plotly.__version__
    plotly_path = plotly_js()
    files = {p.name: p for p in sorted(STATIC.iterdir()) if p.is_file()}

    async def plotly_file(request: Request) -> Response:
        # The version is in the URL, so browsers may keep the file (1.4 MB compressed, 4.8 MB not) for good.
        item = await run_in_threadpool(assets.asset, plotly_path)
        return assets.respond(request, item, immutable=True)

    async def static_file(request: Request, name: str) -> Response:
        path = files.get(name)
        if path is None:
            raise HTTPException(404, "Not Found")
        item = await run_in_threadpool(assets.asset, path)
        return assets.respond(request, item, immutable=request.query_params.get("v") == item.version)

    def static_url(name: str) -> str:
        """``/static/NAME?v=HASH``: a new URL whenever the file changes, so it may be cached for good."""
        return f"/static/{name}?v={assets.asset(files[name]).version}"

    app.add_api_route(f"/static/vendor/plotly-{version}.min.js", plotly_file, include_in_schema=False)
    app.add_api_route("/static/{name}", static_file, include_in_schema=False)
    app.state.plotly_url = f"/static/vendor/plotly-{version}.min.js"
    environment.globals["static_url"] = static_url
    assets.warm([plotly_path, *files.values()])
    app.include_router(router)
