"""What spans every domain about one customer: the one-customer view, export and erase.

Each domain registers what it holds about a customer (:class:`registry.CustomerData`); the composition
root (:mod:`touchline.platform`) does the registering, so a new domain plugs in without editing profiles
or this package."""
