"""The FastAPI application: tracking API, management API, and the dashboard."""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from touchline import __version__
from touchline.analytics.routes import router as analytics_router
from touchline.assistant.routes import router as assistant_router
from touchline.catalog.routes import router as catalog_router
from touchline.conversations import feed as conversation_feed
from touchline.conversations.bot import BotWorker
from touchline.conversations.chat_routes import router as chat_router
from touchline.conversations.chat_routes import script as chat_script_router
from touchline.conversations.inbound.routes import router as inbound_router
from touchline.conversations.routes import router as conversations_router
from touchline.conversations.writer import close_inbound_writer
from touchline.customers.routes import router as customers_router
from touchline.customers.service import purge_erased
from touchline.experiments.routes import flags_router as experiment_flags_router
from touchline.experiments.routes import router as experiments_router
from touchline.feedback.routes import pages as feedback_pages
from touchline.feedback.routes import router as feedback_router
from touchline.http import (
    JSONBody,
    PublicCORS,
    document_schemas,
    document_unknown_parameters,
    install_error_handlers,
    refuse_unknown_query,
)
from touchline.inapp import routes as inapp_routes
from touchline.ingest.plan_routes import router as tracking_plan_router
from touchline.ingest.routes import router as ingest_router
from touchline.ingest.schemas import openapi_schemas
from touchline.ingest.writer import IngestWriter
from touchline.journeys.routes import router as journeys_router
from touchline.journeys.routes import runs_router, templates_router
from touchline.journeys.runner import Runner
from touchline.loyalty.routes import router as loyalty_router
from touchline.loyalty.sweeps import LoyaltyWorker
from touchline.messaging import sandbox
from touchline.messaging.routes import router as messaging_router
from touchline.messaging.routes import tracking as tracking_router
from touchline.personalization.routes import router as recommendations_router
from touchline.personalization.service import RecommendationWorker
from touchline.platform import open_stores
from touchline.predictions.routes import router as predictions_router
from touchline.predictions.schedule import Retrainer
from touchline.profiles.routes import router as profiles_router
from touchline.segments.routes import router as segments_router
from touchline.segments.service import refresh_live
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.threads import named_thread
from touchline.web import mount as mount_dashboard
from touchline.workspaces.service import KeyResolver

log = logging.getLogger("touchline.app")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Services:
    """What request handlers reach through ``request.app.state.services``."""

    stores: Stores
    keys: KeyResolver
    writer: IngestWriter
    # What time the conversations' inbound endpoints (webhooks, web chat) say a message arrived at: the
    # wall clock, or the simulated clock of ``touchline demo``, which delivers its conversations over days.
    clock: Callable[[], dt.datetime] = utc_now


class Pump:
    """Moves staged events to the event store every ``interval`` seconds, in a background thread."""

    def __init__(self, stores: Stores, interval: float) -> None:
        self._stores = stores
        self._interval = interval
        self._last_live = self._last_full = time.monotonic()
        self._purge_retry_at = 0.0  # monotonic time before which a purge that failed is not tried again
        self._stop = threading.Event()
        self._thread = named_thread(self._run, "touchline-pump")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        settings = self._stores.settings
        while not self._stop.wait(self._interval):
            try:
                if self._stores.pump():
                    self._stores.checkpoint()
            except Exception:  # a failed round is retried next round; staged rows are not lost
                log.exception("moving staged events to the event store failed; will retry")
                continue
            if time.monotonic() >= self._purge_retry_at:
                try:
                    purge_erased(self._stores)
                except Exception:  # not every round: a purge may copy the whole event store
                    self._purge_retry_at = time.monotonic() + max(5.0, settings.erase_purge_seconds / 4)
                    log.exception("purging erased customers from the store files failed; will retry")
            now = time.monotonic()
            try:
                if now - self._last_full >= settings.segment_full_refresh_seconds:
                    self._last_full = self._last_live = now
                    self._stores.take_touched()
                    refresh_live(self._stores, None)
                elif now - self._last_live >= settings.segment_live_interval_seconds:
                    self._last_live = now
                    refresh_live(self._stores, self._stores.take_touched())
            except Exception:
                log.exception("refreshing live segments failed; will retry")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        try:
            self._stores.pump()
        except Exception:
            log.exception("final move of staged events failed; they stay staged for the next start")
        try:
            purge_erased(self._stores, force=True)
        except Exception:
            log.exception("purging erased customers from the store files failed; the next start will")


class AnswerUnexpectedErrors:
    """Answers an exception no handler took with the app's handler for ``Exception`` (a JSON 500) and
    ends the request normally. Starlette's outermost middleware answers with the same handler but then
    re-raises, and uvicorn closes the connection on an exception from the app: the client's next request
    on that keep-alive connection was reset. (The dashboard's pages answer their own errors with the error
    page, see ``touchline.web.http.PageRoute``.) An exception after the response started still propagates:
    nothing else can be said on that connection."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self._app = app
        self._owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, sending)
        except Exception as exc:
            handler = self._owner.exception_handlers.get(Exception)
            if started or handler is None:
                raise
            request = Request(scope, receive)
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            await response(scope, receive, send)


def create_app(settings: Settings | None = None, *, stores: Stores | None = None, run_pump: bool = True,
               run_journeys: bool | None = None, clock: Callable[[], dt.datetime] = utc_now) -> FastAPI:
    """The app. ``run_pump`` runs the staging pump and live segments in a thread; ``run_journeys`` (by
    default: with the pump) runs the journey runner and outbox in another; ``clock`` is what time the
    conversations' inbound endpoints receive messages at (:class:`Services`)."""
    settings = settings or (stores.settings if stores else Settings())
    sandbox.configure(settings)  # the process's template render limits (TOUCHLINE_TEMPLATE_*)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_stores = stores is None
        services: Services = app.state.services if hasattr(app.state, "services") else None  # type: ignore[assignment]
        if services is None:
            opened = open_stores(settings)
            services = Services(opened, KeyResolver(opened), IngestWriter(opened), clock)
            app.state.services = services
        pump = Pump(services.stores, settings.pump_interval_seconds) if run_pump else None
        if pump:
            pump.start()
        runner = Runner(services.stores) if (run_pump if run_journeys is None else run_journeys) else None
        if runner:
            runner.start()
        assistant = BotWorker(services.stores) if run_pump else None  # the shop assistant's turns
        if assistant:
            assistant.start()
        loyalty = LoyaltyWorker(services.stores) if run_pump else None  # earning rules, expiry, tiers, referrals
        if loyalty:
            loyalty.start()
        retrainer = Retrainer(services.stores) if run_pump else None  # predictions, on their schedule
        if retrainer:
            retrainer.start()
        recommender = RecommendationWorker(services.stores) if run_pump else None  # trains, refreshes
        if recommender:
            recommender.start()
        mail = None
        if settings.inbound_smtp_port is not None:  # e-mail replies (README, "Inbound channels")
            from touchline.conversations.inbound.smtp_listener import InboundSMTP

            mail = InboundSMTP(services.stores, services.keys, settings.inbound_smtp_host, settings.inbound_smtp_port,
                               clock=services.clock)
            mail.start()
        try:
            yield
        finally:
            if mail:
                mail.stop()
            close_inbound_writer(services.stores)  # stores the messages queued
            if recommender:
                recommender.stop()
            if assistant:
                assistant.stop()
            if loyalty:
                loyalty.stop()
            if retrainer:
                retrainer.stop()
            conversation_feed.close_hub(services.stores)  # ends the live streams
            services.writer.stop()
            if runner:
                runner.stop()
            if pump:
                pump.stop()
            if own_stores:
                services.stores.dispose()

    app = FastAPI(
        title="Touchline",
        version=__version__,
        description="Self-hosted omnichannel customer engagement. The tracking API speaks Segment's HTTP API.",
        lifespan=lifespan,
        default_response_class=JSONBody,
        # A /v1 route refuses a query parameter it does not declare (400 unknown_parameter).
        dependencies=[Depends(refuse_unknown_query)],
    )
    if stores is not None:
        app.state.services = Services(stores, KeyResolver(stores), IngestWriter(stores), clock)
    install_error_handlers(app)
    app.add_middleware(PublicCORS, origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()])
    app.add_middleware(AnswerUnexpectedErrors, owner=app)  # outermost of ours: it sees every route's failure
    # A request is matched against the routes in this order, and with this FastAPI passing over an included
    # router's route costs several microseconds: the customers' traffic (events, the providers' webhooks,
    # the chat window's messages, the shop's pages asking for recommendations) comes first, before the
    # management API's hundreds of routes.
    app.include_router(ingest_router)
    app.include_router(inbound_router)
    app.include_router(chat_router)
    app.include_router(recommendations_router)
    app.include_router(tracking_plan_router)
    app.include_router(profiles_router)
    app.include_router(customers_router)
    app.include_router(segments_router)
    app.include_router(analytics_router)
    app.include_router(predictions_router)
    app.include_router(journeys_router)
    app.include_router(runs_router)
    app.include_router(messaging_router)
    app.include_router(templates_router)
    app.include_router(tracking_router)
    app.include_router(conversations_router)
    app.include_router(chat_script_router)
    app.include_router(assistant_router)
    app.include_router(catalog_router)
    app.include_router(feedback_router)
    app.include_router(feedback_pages)  # the customers' answer pages behind signed links (/s/, /r/)
    app.include_router(loyalty_router)
    app.include_router(experiments_router)
    app.include_router(experiment_flags_router)
    app.include_router(inapp_routes.public)
    app.include_router(inapp_routes.admin)
    app.include_router(inapp_routes.script)
    if settings.demo_storefront:  # a demo product page with analytics.js and the in-app SDK
        from touchline.demo.storefront import router as storefront_router

        app.include_router(storefront_router)
    mount_dashboard(app)  # the dashboard at /, signed in with user accounts
    document_schemas(app, openapi_schemas())  # the tracking bodies, which their endpoints read raw
    document_unknown_parameters(app)

    @app.get("/health", tags=["ops"], summary="Liveness")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    return app
