"""The one way out: what is queued to be sent (enqueue), and the dispatcher that sends it
with the project's one retry loop, the SQLite send journal beside it."""
