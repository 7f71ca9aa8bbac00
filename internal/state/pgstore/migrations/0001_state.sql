-- quotawatch state, schema version 1. Each row holds its part of the state
-- as JSON in the state file's schema (internal/state/schema.go), so a field
-- added to the state is stored without a migration.

-- One row per account: its bookkeeping (last snapshot, poll failures,
-- samples, next poll) without its alerts.
CREATE TABLE quotawatch_accounts (
	name       text PRIMARY KEY,
	data       jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per alert: (account, kind, subject); subject is '' for kinds with
-- one alert per account.
CREATE TABLE quotawatch_alerts (
	account    text NOT NULL,
	kind       text NOT NULL,
	subject    text NOT NULL DEFAULT '',
	data       jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account, kind, subject)
);

-- One row per notification owed to one notifier, until it accepted it;
-- seq keeps the order they were queued in.
CREATE TABLE quotawatch_outbox (
	event_id   text NOT NULL,
	notifier   text NOT NULL,
	seq        bigint GENERATED ALWAYS AS IDENTITY,
	data       jsonb NOT NULL,
	PRIMARY KEY (event_id, notifier)
);
CREATE INDEX quotawatch_outbox_seq ON quotawatch_outbox (seq);
