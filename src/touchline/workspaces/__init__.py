"""Workspaces (one shop or one environment) and the keys that belong to them."""
