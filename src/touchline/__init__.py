"""Touchline: a self-hosted omnichannel customer engagement platform."""

__version__ = "0.1.0"
__all__ = ["__version__"]
