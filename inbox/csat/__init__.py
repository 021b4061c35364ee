"""Asking customers how it went (CSAT, docs/csat.md): a survey scheduled when a
conversation is resolved, sent by the sweep after a delay, answered once by a signed
link or a reply with a digit."""
