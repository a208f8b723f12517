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
    version: 3,
    name: "software and services per host",
    up(db) {
      // The latest list of each kind per host (by report IP), and what it changed. Times are ms since the
      // epoch, UTC. `hash` is the hash of the items stored; `reported_hash` the agent's newest one (they
      // differ while a changed list has not arrived yet).
      db.run(`CREATE TABLE host_lists (
        ip TEXT NOT NULL,
        list TEXT NOT NULL CHECK (list IN ('software', 'services')),
        hash TEXT NOT NULL,
        reported_hash TEXT NOT NULL,
        items INTEGER NOT NULL,
        collected_at INTEGER NOT NULL,
        changed_at INTEGER NOT NULL,
        seen_at INTEGER NOT NULL,
        PRIMARY KEY (ip, list)
      ) WITHOUT ROWID`);
      db.run(`CREATE TABLE host_software (
        ip TEXT NOT NULL,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        version TEXT NOT NULL,
        vendor TEXT NOT NULL,
        arch TEXT NOT NULL,
        source TEXT NOT NULL,
        user TEXT,
        install_date TEXT,
        size_bytes INTEGER,
        extra TEXT
      )`);
      db.run("CREATE INDEX host_software_ip ON host_software (ip)");
      // Fleet-wide search by name, case-insensitively.
      db.run("CREATE INDEX host_software_name ON host_software (name_key)");
      db.run(`CREATE TABLE host_services (
        ip TEXT NOT NULL,
        name TEXT NOT NULL,
        item TEXT NOT NULL
      )`);
      db.run("CREATE INDEX host_services_ip ON host_services (ip)");
      db.run(`CREATE TABLE software_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        ip TEXT NOT NULL,
        change TEXT NOT NULL CHECK (change IN ('installed', 'upgraded', 'downgraded', 'removed')),
        name TEXT NOT NULL,
        arch TEXT NOT NULL,
        source TEXT NOT NULL,
        user TEXT,
        old_version TEXT,
        new_version TEXT
      )`);
      db.run("CREATE INDEX software_changes_at ON software_changes (at, id)");
    },
  },
  {
    version: 4,
    name: "releases and agent commands",
    up(db) {
      // Imported agent releases (files in <data>/releases/<version>/); sums and signature kept verbatim so
      // every agent checks the same signed text. percent: the share of the fleet offered it (rollout).
      db.run(`CREATE TABLE releases (
        version TEXT PRIMARY KEY,
        released_at TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        percent INTEGER NOT NULL CHECK (percent BETWEEN 1 AND 100),
        changelog TEXT NOT NULL,
        sums TEXT NOT NULL,
        signature TEXT NOT NULL,
        url_base TEXT
      )`);
      // collect/update asked of an agent, heard over its long-poll, with the outcome it reported.
      db.run(`CREATE TABLE agent_commands (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent_id INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('collect', 'update')),
        state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'done', 'failed')),
        created_at INTEGER NOT NULL,
        delivered_at INTEGER,
        finished_at INTEGER,
        message TEXT
      )`);
      db.run("CREATE INDEX agent_commands_agent ON agent_commands (agent_id, id)");
      db.run("CREATE INDEX agent_commands_queued ON agent_commands (agent_id) WHERE state = 'queued'");
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
  {
    version: 6,
    name: "alerts",
    up(db) {
      // One row per rule and subject (a host's address, a log service, or "*"): its newest state. Times are
      // milliseconds since the epoch, UTC. A firing row that is already firing is not notified again.
      db.run(`CREATE TABLE alerts (
        rule TEXT NOT NULL,
        subject TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
        severity TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        resolved_at INTEGER,
        updated_at INTEGER NOT NULL,
        value REAL,
        message TEXT NOT NULL,
        PRIMARY KEY (rule, subject)
      )`);
      db.run("CREATE INDEX alerts_state ON alerts (state, updated_at)");
      // Webhook deliveries still to make, written with the state change they announce, so neither a
      // receiver that is down nor a restart loses one.
      db.run(`CREATE TABLE alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL
      )`);
      db.run("CREATE INDEX alert_outbox_next ON alert_outbox (next_at)");
    },
  },
  {
    version: 7,
    name: "archive log days",
    up(db) {
      // One row per UTC day of central logs sent to the S3 archive (or tried), as NDJSON.gz. 'archived' only
      // once the object was verified: until then retention keeps that day's entries. Times in ms, UTC.
      db.run(`CREATE TABLE archive_log_days (
        date TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('archived', 'failed')),
        object_key TEXT,
        entries INTEGER,
        sha256 TEXT,
        gz_bytes INTEGER,
        archived_at INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        retry_at INTEGER
      )`);
    },
  },
];
