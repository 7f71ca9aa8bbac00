// Package pgstore keeps quotawatch's state in PostgreSQL: the same state as
// the state file (package state), split into rows — one per account, one
// per alert (account, kind, subject: an account's alert of a kind, an API
// key's, a budget's), one per owed delivery (event, notifier), and one for
// what the state holds besides (the digest's record) — each holding its
// part as JSON in the state file's schema.
//
// A cycle holds a session-level advisory lock on a connection of its own;
// every write goes through that connection, so a session whose connection
// broke (and whose lock another replica may now hold) can write nothing
// more. Save writes, in one transaction, only the rows that changed since
// they were loaded. Delivered deletes one outbox row at once, so a crash
// repeats at most the delivery in flight.
//
// The schema is versioned SQL embedded in the binary (migrations/), applied
// by Migrate under an advisory lock of its own, so replicas starting at once
// apply each migration once.
package pgstore
