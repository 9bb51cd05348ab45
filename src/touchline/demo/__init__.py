"""The demo shop: a realistic Korean/English online store (catalog, customers, sessions on web, app,
stores and chat, funnels with drop-off), generated through the same ingestion path as the HTTP API."""

from touchline.demo.generator import DemoSummary, estimate_messages, generate, iter_messages

__all__ = ["DemoSummary", "estimate_messages", "generate", "iter_messages"]
