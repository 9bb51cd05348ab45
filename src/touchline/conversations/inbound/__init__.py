"""Inbound channels: each provider's documented webhook (or, for e-mail, a mail received) turned into
an :class:`touchline.conversations.types.Inbound` for :func:`touchline.conversations.service.receive`.

One pure module per provider parses and verifies (no I/O: :mod:`.twilio`, :mod:`.whatsapp`,
:mod:`.kakao`, :mod:`.email`); :mod:`.routes` holds the webhooks, :mod:`.smtp_listener` the e-mail
receiver. A provider's webhook names its workspace by an ``inbound`` token (``touchline keys create
--kind inbound``) in the URL, since providers send no Touchline key.
"""
