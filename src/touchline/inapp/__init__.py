"""In-app messages (issue 17): banners, modals and slide-ins on the shop's pages and apps, shown by a rule on
the page, a journey or an event, within frequency rules; their impressions, clicks and dismissals come
back as events. ``rules`` is the pure core; ``service`` and ``store`` do the I/O; ``capture`` is the event
log's subscriber; ``routes`` the HTTP API and ``/sdk/inapp.js``."""
