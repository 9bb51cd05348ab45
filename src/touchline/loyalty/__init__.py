"""Loyalty (issue 18): programs with an exact points ledger, earning rules applied from the event log,
tiers, rewards and coupons, referrals.

The ledger's arithmetic (:mod:`.ledger`), the program definition and its earning rules (:mod:`.rules`)
and the tier review (:mod:`.tiers`) are pure; :mod:`.service` keeps the ledger in the state store,
:mod:`.consumer` applies the rules to the events the log hands it, :mod:`.rewards` and :mod:`.referrals`
build on the ledger, :mod:`.routes` is the API under ``/v1/loyalty``.
"""
