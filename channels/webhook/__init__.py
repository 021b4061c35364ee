"""Outgoing webhooks: each delivery the outbox sends is an HTTP POST to a URL an admin
registered, signed as Standard Webhooks says (docs/api.md "Webhooks")."""
