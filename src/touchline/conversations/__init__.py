"""Converse: one inbox for every channel.

Customers' messages from every channel come in through :func:`service.receive` (one entry point: the
customer is resolved through ingestion's identity graph, the message placed in the customer's
conversation by :mod:`placement`, stored once per provider message id, and recorded in the event log);
agents (and later the bot) act through the service: reply (sent once through the messaging outbox),
note, assign, snooze, resolve, reopen, tag. The pure rules have no I/O and take ``now``:
:mod:`rules` (the status machine), :mod:`placement` (which conversation a message joins, e-mail
threading included), :mod:`routing` (round-robin assignment), :mod:`channel_rules` (what each channel
allows a reply), :mod:`metrics` (response and resolution times, backlog). Changes reach inboxes live
through :mod:`feed`.
"""
