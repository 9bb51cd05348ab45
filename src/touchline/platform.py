"""The composition root: the one place that knows every domain, and wires them together.

The flow runs one way (README, architecture): producers append to the event log, consumers subscribe to
it, and no package imports one above it. What joins the domains at run time is therefore done here,
once per process, before anything is ingested: the event log's subscribers, and what each domain holds
about a customer for the customer-wide view, export and erase. Every entry point (the server, the worker,
the CLI, the demo, the tests) opens its stores through :func:`open_stores`, which wires first.
"""

from __future__ import annotations

import threading

from touchline import eventlog
from touchline.catalog import capture as catalog_capture
from touchline.conversations import chat_surveys
from touchline.conversations import receipts as conversation_receipts
from touchline.conversations import service as conversation_service
from touchline.conversations import store as conversation_store
from touchline.customers.registry import CustomerData, register
from touchline.experiments import store as experiment_store
from touchline.feedback import service as feedback_service
from touchline.feedback import store as feedback_store
from touchline.feedback.survey_templates import BUILTIN_SURVEY_TEMPLATES
from touchline.inapp import capture as inapp_capture
from touchline.inapp import store as inapp_store
from touchline.journeys import signals as journey_signals
from touchline.journeys import store as journey_store
from touchline.loyalty import consumer as loyalty_consumer
from touchline.loyalty import store as loyalty_store
from touchline.messaging import builtin as builtin_templates
from touchline.messaging import context as message_context
from touchline.messaging import functions as template_functions
from touchline.messaging import store as message_store
from touchline.personalization import service as recommendations
from touchline.personalization import store as recommendation_store
from touchline.segments import store as segment_store
from touchline.settings import Settings
from touchline.store.engines import Stores
from touchline.store.migrations import upgrade
from touchline.workspaces.service import bootstrap

__all__ = ["open_stores", "wire"]

_wired = threading.Event()
_lock = threading.Lock()


def wire() -> None:
    """Subscribe the consumers to the event log and register each domain's customer data (idempotent)."""
    if _wired.is_set():
        return
    with _lock:
        if _wired.is_set():
            return
        # Journeys queue, in the ingesting transaction, the events a live journey listens to.
        eventlog.subscribe("journeys", journey_signals.capture)
        # Conversations read their replies' delivery from the outbox's receipts.
        eventlog.subscribe("conversations", conversation_receipts.capture)
        # A journey's survey step on the chat asks in the customer's chat window.
        eventlog.subscribe("chat-surveys", chat_surveys.capture)
        # Loyalty queues the events its programs' rules listen to; its worker applies them to the ledger.
        eventlog.subscribe("loyalty", loyalty_consumer.capture)
        # Message templates call recommendations(n) for the customer they are rendered for.
        message_context.register(message_context.ContextProvider(
            "recommendations", recommendations.template_variables,
            lambda: {"recommendations": recommendations.sample_products}))
        # In-app messages become pending for a customer when a journey sends one, or an event names one.
        eventlog.subscribe("inapp", inapp_capture.capture)
        register(CustomerData("segments", erase=segment_store.erase_customer, export=segment_store.export_customer,
                              tables=segment_store.ERASED_TABLES, view=segment_store.customer_view))
        register(CustomerData("journeys", erase=journey_store.erase_customer, export=journey_store.export_customer,
                              tables=journey_store.ERASED_TABLES, view=journey_store.customer_view))
        register(CustomerData("messages", erase=message_store.erase_customer, export=message_store.export_customer,
                              tables=message_store.ERASED_TABLES, view=message_store.customer_view))
        register(CustomerData("recommendations", erase=recommendation_store.erase_customer,
                              export=recommendation_store.export_customer, tables=recommendation_store.ERASED_TABLES))
        register(CustomerData("conversations", erase=conversation_store.erase_customer,
                              export=conversation_store.export_customer, tables=conversation_store.ERASED_TABLES,
                              view=conversation_store.customer_view))
        # Reviews the shop tracks itself (Review Submitted with a product and a rating) wait for moderation.
        eventlog.subscribe("feedback", feedback_service.capture)
        register(CustomerData("feedback", erase=feedback_store.erase_customer, export=feedback_store.export_customer,
                              tables=feedback_store.ERASED_TABLES, view=feedback_store.customer_view))
        # Templates link to surveys and review forms (signed with the workspace's key).
        template_functions.register("survey_link", feedback_service.survey_link_function)
        for survey_template in BUILTIN_SURVEY_TEMPLATES:  # a journey's survey step sends these by default
            builtin_templates.register(survey_template)
        template_functions.register("review_link", feedback_service.review_link_function)
        register(CustomerData("loyalty", erase=loyalty_store.erase_customer, export=loyalty_store.export_customer,
                              tables=loyalty_store.ERASED_TABLES, view=loyalty_store.customer_view))
        register(CustomerData("experiments", erase=experiment_store.erase_customer,
                              export=experiment_store.export_customer, tables=experiment_store.ERASED_TABLES))
        register(CustomerData("inapp", erase=inapp_store.erase_customer, export=inapp_store.export_customer,
                              tables=inapp_store.ERASED_TABLES, view=inapp_store.customer_view))
        # The catalog learns products from the shop's e-commerce events (what an import set stands). It holds
        # no customer's data: nothing to register for export or erase.
        eventlog.subscribe("catalog", catalog_capture.capture)
        _wired.set()


def open_stores(settings: Settings | None = None, *, migrate: bool = True) -> Stores:
    """The stores of ``settings`` (the environment's by default), migrated unless ``migrate`` is false,
    with the workspace the settings name bootstrapped, in a wired process."""
    wire()
    settings = settings or Settings()
    if settings.database_url is None or settings.events_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    stores = Stores(settings)
    # Snoozed conversations wake, and the live feed is pruned, on the pump's rounds.
    stores.pump_hooks.append(conversation_service.housekeeping)
    if migrate:
        upgrade(stores, events_busy_ok=True)
    bootstrap(stores)
    return stores
