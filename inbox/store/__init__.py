"""The only SQL: the tables (models), the engine and schema checks (db), the batched hot
path (batch), the plain-driver readers the light commands use (rawdb), the blob store for
raw bytes, the daemons' liveness locks, and the migrations.

Kept empty on purpose: `inbox sla` imports `inbox.store.rawdb` and must not load
SQLAlchemy."""
