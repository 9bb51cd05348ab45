"""Feedback: NPS and CSAT surveys sent by journeys (signed links, one-click scores, in-app answers) and
product reviews (a form behind a signed link and the API, moderation with a Korean and English profanity
filter, a published API for product pages). Answers and reviews are events and traits.

Pure cores: ``signing`` (the links' tokens), ``stats`` (NPS and CSAT with their intervals), ``profanity``,
``page`` (the answer pages' HTML)."""
