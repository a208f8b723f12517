// Every migration of relevo.db, in order. Append new steps at the end; never edit a released one.
import type { Migration } from "./migrations.ts";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "central logs",
    up(db) {
      // Times are microseconds since the epoch, UTC; severity is its number (10 DEBUG ... 50 CRITICAL).
      // AUTOINCREMENT: an id is never handed out twice, even after retention deleted the newest rows.
      db.run(`CREATE TABLE logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        received INTEGER NOT NULL,
        service TEXT NOT NULL,
        level INTEGER NOT NULL,
        message TEXT NOT NULL,
        host TEXT,
        attributes TEXT,
        entry_id TEXT
      )`);
      // One index per way in, each ending in ts (and the rowid SQLite appends) so pages come out in order.
      db.run("CREATE INDEX logs_ts ON logs (ts)");
      db.run("CREATE INDEX logs_service_ts ON logs (service, ts)");
      db.run("CREATE INDEX logs_level_ts ON logs (level, ts)");
      db.run("CREATE INDEX logs_received ON logs (received)");
      // Warnings and worse of one service, which are rare among its entries: partial, so the ~80% of
      // DEBUG and INFO traffic does not pay for it.
      db.run("CREATE INDEX logs_service_high ON logs (service, level, ts) WHERE level >= 30");
      db.run("CREATE UNIQUE INDEX logs_entry_id ON logs (entry_id) WHERE entry_id IS NOT NULL");
    },
  },
  {
    version: 2,
    name: "agents",
    up(db) {
      // Enrolled agents. Times are milliseconds since the epoch, UTC; the token is kept as its SHA-256 only.
      // AUTOINCREMENT: a revoked agent's id is never handed to another machine.
      db.run(`CREATE TABLE agents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        machine_id TEXT,
        hostname TEXT NOT NULL,
        os_type TEXT NOT NULL,
        os_version TEXT NOT NULL,
        version TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        last_ip TEXT,
        token_hash TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'revoked'))
      )`);
      db.run("CREATE UNIQUE INDEX agents_machine_id ON agents (machine_id) WHERE machine_id IS NOT NULL");
      db.run("CREATE INDEX agents_host_os ON agents (hostname, os_type) WHERE machine_id IS NULL");
      db.run("CREATE UNIQUE INDEX agents_token ON agents (token_hash)");
      db.run("CREATE INDEX agents_state ON agents (state, id)");
    },
  },
  {
    version: 5,
    name: "archive manifest",
    up(db) {
      // One row per day file sent to the S3 archive (or tried). Times are milliseconds since the epoch, UTC.
      // A row is 'archived' only once its object was verified; 'failed' keeps the reason and when to retry.
      db.run(`CREATE TABLE archive_files (
        name TEXT PRIMARY KEY,
        ip TEXT NOT NULL,
        date TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('archived', 'failed', 'restored')),
        object_key TEXT,
        bytes INTEGER,
        reports INTEGER,
        sha256 TEXT,
        gz_bytes INTEGER,
        gz_md5 TEXT,
        archived_at INTEGER,
        verified_at INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        failed_at INTEGER,
        retry_at INTEGER
      )`);
      db.run("CREATE INDEX archive_files_ip_date ON archive_files (ip, date)");
      db.run("CREATE INDEX archive_files_state ON archive_files (state)");
      db.run(`CREATE TABLE archive_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        archived INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        error TEXT
      )`);
    },
  },
];
