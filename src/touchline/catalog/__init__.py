"""The shop's catalog (issue 15): products per workspace, with a name per language, a category, a price in
its currency, stock, links and free attributes, filled from an import (the API, ``touchline catalog
import``, the demo) and from the shop's own e-commerce events, each field remembering where it came from:
an import's value is never overwritten by an event. The shop assistant answers product questions from it.

Pure core: ``fields`` (reading an import item or an event's product, and the precedence of the two). The
catalog holds no customer's data."""
