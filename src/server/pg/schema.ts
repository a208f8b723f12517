// Every migration of the PostgreSQL backend, in order. Append new steps at the end; never edit a released one.
// The tables mirror what the embedded backend keeps: day files (reports), relevo.db (logs, agents) and
// tokens.json.
import type { PgMigration } from "./migrate.ts";

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: "reports",
    async up(sql) {
      // The order reports arrived in, across every server: a day's elements come out in this order.
      await sql`CREATE SEQUENCE reports_seq`;
      // One row per stored report, in one partition per day (created ahead, see partitions.ts), so
      // retention and the archive drop or detach whole days. `element` is the day-file element exactly as
      // the file store writes it (text, not jsonb: jsonb reorders keys and drops duplicates, so /query would
      // not be byte for byte the same). The key makes a retry through another server a duplicate.
      await sql`CREATE TABLE reports (
        day date NOT NULL,
        source_ip text NOT NULL,
        report_id text NOT NULL,
        seq bigint NOT NULL DEFAULT nextval('reports_seq'),
        received_at text COLLATE "C" NOT NULL,
        element text NOT NULL,
        hostname text NOT NULL,
        os_platform text NOT NULL,
        cpu_load_percent double precision NOT NULL,
        memory_total_bytes double precision NOT NULL,
        memory_available_bytes double precision NOT NULL,
        process_count double precision NOT NULL,
        agent_version text NOT NULL,
        agent_id text,
        PRIMARY KEY (source_ip, day, report_id)
      ) PARTITION BY RANGE (day)`;
      await sql`CREATE INDEX reports_ip_seq ON reports (source_ip, day, seq)`;
      // lz4 where the server has it: measured 0.07 ms of database CPU per 25 KB report against pglz's 0.27
      // (bun run bench ingest --database auto). Partitions made later take the parent's setting.
      await sql.unsafe(`DO $$ BEGIN
          ALTER TABLE reports ALTER COLUMN element SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR syntax_error THEN NULL;
        END $$`);
      // What the file store knows from its directory listing: one row per day file, kept up to date by the
      // same statement that inserts, so /files and /query's 404 never count rows.
      await sql`CREATE TABLE report_days (
        source_ip text NOT NULL,
        day date NOT NULL,
        reports bigint NOT NULL,
        element_bytes bigint NOT NULL,
        PRIMARY KEY (source_ip, day)
      )`;
      await sql`CREATE INDEX report_days_day ON report_days (day)`;
      // The latest summary per host, as /hosts returns it (JSON text of HostSummary).
      await sql`CREATE TABLE hosts (
        source_ip text PRIMARY KEY,
        last_seen text NOT NULL,
        summary text NOT NULL
      )`;
    },
  },
  {
    version: 2,
    name: "central logs",
    async up(sql) {
      // As in relevo.db: times in microseconds since the epoch, UTC; severity as its number.
      await sql`CREATE TABLE logs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ts bigint NOT NULL,
        received bigint NOT NULL,
        service text NOT NULL,
        level smallint NOT NULL,
        message text NOT NULL,
        host text,
        attributes text,
        entry_id text
      )`;
      await sql`CREATE INDEX logs_ts ON logs (ts, id)`;
      await sql`CREATE INDEX logs_service_ts ON logs (service, ts, id)`;
      await sql`CREATE INDEX logs_level_ts ON logs (level, ts, id)`;
      await sql`CREATE INDEX logs_received ON logs (received)`;
      await sql`CREATE UNIQUE INDEX logs_entry_id ON logs (entry_id) WHERE entry_id IS NOT NULL`;
    },
  },
  {
    version: 3,
    name: "agents",
    async up(sql) {
      // Times in milliseconds since the epoch; the token as its SHA-256 only; ids never handed out twice.
      await sql`CREATE TABLE agents (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        machine_id text,
        hostname text NOT NULL,
        os_type text NOT NULL,
        os_version text NOT NULL,
        version text NOT NULL,
        first_seen bigint NOT NULL,
        last_seen bigint NOT NULL,
        last_ip text,
        token_hash text NOT NULL,
        state text NOT NULL CHECK (state IN ('active', 'revoked'))
      )`;
      await sql`CREATE UNIQUE INDEX agents_machine_id ON agents (machine_id) WHERE machine_id IS NOT NULL`;
      await sql`CREATE INDEX agents_host_os ON agents (hostname, os_type) WHERE machine_id IS NULL`;
      await sql`CREATE UNIQUE INDEX agents_token ON agents (token_hash)`;
      await sql`CREATE INDEX agents_state ON agents (state, id)`;
    },
  },
  {
    version: 4,
    name: "tokens",
    async up(sql) {
      // tokens.json as a table: SHA-256 hashes only. auth_required is the `auth-required` marker: once a
      // token has existed, the servers on this database always ask for one.
      await sql`CREATE TABLE tokens (
        name text PRIMARY KEY,
        role text NOT NULL,
        hash text NOT NULL UNIQUE,
        created_at text NOT NULL,
        service text,
        last_used_at text,
        CHECK ((role = 'logs') = (service IS NOT NULL))
      )`;
      await sql`CREATE TABLE relevo_settings (key text PRIMARY KEY, value text NOT NULL)`;
    },
  },
  {
    version: 5,
    name: "agent commands",
    async up(sql) {
      // As relevo.db's: collect/update asked of an agent, heard over its long-poll through whichever server
      // holds it (NOTIFY relevo_commands), with the outcome it reported. Times in ms since the epoch.
      await sql`CREATE TABLE agent_commands (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        agent_id bigint NOT NULL,
        kind text NOT NULL CHECK (kind IN ('collect', 'update')),
        state text NOT NULL CHECK (state IN ('queued', 'delivered', 'done', 'failed')),
        created_at bigint NOT NULL,
        delivered_at bigint,
        finished_at bigint,
        message text
      )`;
      await sql`CREATE INDEX agent_commands_agent ON agent_commands (agent_id, id)`;
      await sql`CREATE INDEX agent_commands_queued ON agent_commands (agent_id) WHERE state = 'queued'`;
    },
  },
  {
    version: 6,
    name: "software and services per host",
    async up(sql) {
      // As relevo.db's (times in ms since the epoch; `n` keeps each list in the order it was sent; `user` is
      // a reserved word here, so user_name).
      await sql`CREATE TABLE host_lists (
        ip text NOT NULL,
        list text NOT NULL CHECK (list IN ('software', 'services')),
        hash text NOT NULL,
        reported_hash text NOT NULL,
        items integer NOT NULL,
        collected_at bigint NOT NULL,
        changed_at bigint NOT NULL,
        seen_at bigint NOT NULL,
        PRIMARY KEY (ip, list)
      )`;
      await sql`CREATE TABLE host_software (
        n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ip text NOT NULL,
        name text NOT NULL,
        name_key text NOT NULL,
        version text NOT NULL,
        vendor text NOT NULL,
        arch text NOT NULL,
        source text NOT NULL,
        user_name text,
        install_date text,
        size_bytes bigint,
        extra text
      )`;
      await sql`CREATE INDEX host_software_ip ON host_software (ip)`;
      await sql`CREATE INDEX host_software_name ON host_software (name_key)`;
      await sql`CREATE TABLE host_services (
        n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ip text NOT NULL,
        name text NOT NULL,
        item text NOT NULL
      )`;
      await sql`CREATE INDEX host_services_ip ON host_services (ip)`;
      await sql`CREATE TABLE software_changes (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at bigint NOT NULL,
        ip text NOT NULL,
        change text NOT NULL CHECK (change IN ('installed', 'upgraded', 'downgraded', 'removed')),
        name text NOT NULL,
        arch text NOT NULL,
        source text NOT NULL,
        user_name text,
        old_version text,
        new_version text
      )`;
      await sql`CREATE INDEX software_changes_at ON software_changes (at, id)`;
    },
  },
  {
    version: 7,
    name: "alerts and their webhook outbox; agent releases",
    async up(sql) {
      // As relevo.db's (times in ms since the epoch). A transition is made by a conditional write (see
      // pg/alert-db.ts), so two servers hearing the same breach write it, and queue its deliveries, once.
      await sql`CREATE TABLE alerts (
        rule text NOT NULL,
        subject text NOT NULL,
        state text NOT NULL CHECK (state IN ('firing', 'resolved')),
        severity text NOT NULL,
        started_at bigint NOT NULL,
        resolved_at bigint,
        updated_at bigint NOT NULL,
        value double precision,
        message text NOT NULL,
        PRIMARY KEY (rule, subject)
      )`;
      await sql`CREATE INDEX alerts_state ON alerts (state, started_at)`;
      await sql`CREATE TABLE alert_outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        webhook text NOT NULL,
        body text NOT NULL,
        created_at bigint NOT NULL,
        attempts integer NOT NULL,
        next_at bigint NOT NULL
      )`;
      await sql`CREATE INDEX alert_outbox_next ON alert_outbox (next_at, id)`;
      // Agent releases, so every server offers the same ones (as relevo.db's), and their executables in
      // chunks (bytea under 1 GB each, streamed out one at a time), so any server serves the download.
      await sql`CREATE TABLE releases (
        version text PRIMARY KEY,
        released_at text NOT NULL,
        added_at bigint NOT NULL,
        key_id text NOT NULL,
        percent integer NOT NULL CHECK (percent BETWEEN 1 AND 100),
        changelog text NOT NULL,
        sums text NOT NULL,
        signature text NOT NULL,
        url_base text
      )`;
      await sql`CREATE TABLE release_chunks (
        version text NOT NULL REFERENCES releases (version) ON DELETE CASCADE,
        file text NOT NULL,
        n integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (version, file, n)
      )`;
    },
  },
  {
    version: 8,
    name: "archive manifest",
    async up(sql) {
      // As relevo.db's archive_files and archive_runs (times in ms since the epoch): one row per day file
      // (`<ip>_<date>.json`) the archive took from a day partition, verified in the bucket, or failed and when
      // to try again; one row per run.
      await sql`CREATE TABLE archive_files (
        name text PRIMARY KEY,
        ip text NOT NULL,
        date text COLLATE "C" NOT NULL,
        state text NOT NULL CHECK (state IN ('archived', 'failed', 'restored')),
        object_key text,
        bytes bigint,
        reports bigint,
        sha256 text,
        gz_bytes bigint,
        gz_md5 text,
        archived_at bigint,
        verified_at bigint,
        attempts integer NOT NULL DEFAULT 0,
        error text,
        failed_at bigint,
        retry_at bigint
      )`;
      await sql`CREATE INDEX archive_files_ip_date ON archive_files (ip, date)`;
      await sql`CREATE INDEX archive_files_state ON archive_files (state)`;
      await sql`CREATE TABLE archive_runs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        started_at bigint NOT NULL,
        finished_at bigint,
        archived integer NOT NULL DEFAULT 0,
        failed integer NOT NULL DEFAULT 0,
        error text
      )`;
    },
  },
];
