"""Personalisation: product recommendations learned from what customers viewed, put in their carts and bought.

The pure core (``model``: co-occurrence, popularity, the rules, scoring; ``evaluate``: held-out last orders;
``collaborative``: ``implicit``'s ALS and item-kNN) does no I/O; ``queries`` reads interactions from the event
store, ``store`` keeps the trained model and the shop's rules in the state store, ``service`` trains, refreshes
and answers, ``routes`` serves ``/v1/recommendations``.
"""
