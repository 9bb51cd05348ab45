"""Measure: funnels, cart abandonment, conversion by channel and device, cohorts, CLTV and paths."""
