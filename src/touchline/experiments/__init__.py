"""Experiments: A/B/n tests and holdouts on messages, journey paths and the shop's own pages, with their
statistics (``stats``), sticky assignment (``assignment``) and bandits (``bandit``)."""
