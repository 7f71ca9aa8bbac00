-- quotawatch state, schema version 2: what the state holds beside accounts,
-- alerts and the outbox (the digest's record of the last digest sent), as
-- one row of JSON in the state file's top-level schema.
CREATE TABLE quotawatch_globals (
	name       text PRIMARY KEY,
	data       jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
