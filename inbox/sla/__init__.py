"""The 24-hour promise: the pure clock and its business-hours calendars (clock, calendar),
the sweep that moves due conversations on, the notifications it sends, and what is at
risk now (risk, the read model of `inbox sla`).

Kept empty on purpose: `inbox sla` must not load SQLAlchemy."""
