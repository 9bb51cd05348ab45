"""Collect: the Segment-compatible tracking API, bulk import, and the batch ingestion service."""
