"""Unify: the identity graph, one profile per customer, traits, consents, export and erase."""
