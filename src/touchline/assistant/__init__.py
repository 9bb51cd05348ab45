"""The shop assistant's answering core (issue 15): pure logic, no I/O beyond reading its packaged seed.

A shopper's question goes in; a :class:`~touchline.assistant.engine.Reply` comes out: the intent, the FAQ
entry or the products it found, a confidence and whether it is sure enough to answer, and whether the
shopper asked for a person. Wiring it into conversations (sending the reply, looking up the customer's
orders, the guided return flow) is another module's job.
"""
