"""The dashboard: server-rendered pages (Jinja2) on the same FastAPI app as the API, signed in with
user accounts. ``mount(app)`` adds it; see :mod:`touchline.web.routes` for the pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["mount", "plotly_js"]

STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` wheel (no CDN, nothing copied)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def mount(app: FastAPI) -> None:
    import plotly

    from touchline.web.routes import router

    version = plotly.__version__
    immutable = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}

    async def plotly_file() -> Response:
        return FileResponse(plotly_js(), media_type="text/javascript; charset=utf-8", headers=immutable)

    # The version is in the URL, so browsers may keep the 4.8 MB file for good.
    app.add_api_route(f"/static/vendor/plotly-{version}.min.js", plotly_file, include_in_schema=False)
    app.state.plotly_url = f"/static/vendor/plotly-{version}.min.js"
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)
