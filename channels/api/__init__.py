"""Messages other systems post to `POST /api/v1/inbound` (a shop's contact form, an
app): their conversations are on channel `api`, one account per system
(`[channels.api.<system>]`), and answered by e-mail through a relay (docs/api.md)."""
