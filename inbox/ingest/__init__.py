"""The way in: the pipeline and its steps, one message at a time inside its batch's
transaction (dedupe, contact, robots, thread, store, route, acknowledge, SLA), the
importer that feeds it mail files, and what makes a message safe to store."""
