"""The shop assistant (issue 15). Its answering core is pure logic, no I/O beyond reading its packaged seed.

A shopper's question goes in; a :class:`~touchline.assistant.engine.Reply` comes out: the intent, the FAQ
entry or the products it found, a confidence and whether it is sure enough to answer, and whether the
shopper asked for a person. Wiring it into conversations (sending the reply, looking up the customer's
orders, the guided return flow) is another module's job.

The shop's FAQ as stored per workspace (issue 15: edited in the API and the dashboard) is the I/O part,
kept apart from the pure modules: ``store`` (SQL), ``service`` (entries, and the assistant built from a
workspace's FAQ), ``schemas`` and ``routes`` (``/v1/assistant``).
"""
