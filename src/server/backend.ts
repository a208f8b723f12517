// What `serve` keeps, opened from one of two places: the data directory (day files, relevo.db, tokens.json;
// the default) or PostgreSQL (--database), shared by several servers. Both give the app the same parts.
import type { Database } from "bun:sqlite";
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { SQL } from "bun";
import { UsageError } from "../shared/cli.ts";
import { AgentStore, type Agents } from "./agents/agent-store.ts";
import { CommandHub, type Commands } from "./agents/command-hub.ts";
import { AlertDb, type AlertState } from "./alerts/alert-db.ts";
import { type TokenCheck, TokenRegistry } from "./auth/tokens.ts";
import type { DayZone } from "./day.ts";
import type { GroupCommit } from "./db/group-commit.ts";
import type { Logs } from "./logs/log-store.ts";
import { openLogs } from "./logs/open.ts";
import { redactUrl, type TlsMode } from "./pg/connect.ts";
import type { PgReportStore } from "./pg/report-store.ts";
import { ReleaseStore, type Releases } from "./releases/release-store.ts";
import { type SoftwareLists, SoftwareStore } from "./software/software-store.ts";
import { type FileStore, type FsyncMode, openFileStore } from "./store/file-store.ts";
import type { JournalObserver } from "./store/journal-writer.ts";
import type { Store } from "./store/types.ts";

export interface DatabaseFlags {
  url: string;
  tls?: TlsMode;
  caFile?: string;
  statementTimeoutMs?: number;
}

export interface BackendSettings {
  dataDir: string;
  fsync: FsyncMode;
  dayZone: DayZone;
  logsRetentionDays: number;
  logsMaxBytes: number;
  /** An agent is stale after this long unheard. */
  staleAfterMs: number;
  database?: DatabaseFlags;
  /** The journal's fsyncs, for /metrics (data directory only). */
  observer?: JournalObserver;
}

export interface Backend {
  store: Store;
  logs: Logs;
  agents: Agents;
  registry: TokenCheck;
  commands: Commands;
  /** The latest software and service list per host. */
  software: SoftwareLists | null;
  /** Signed agent releases (files in the data directory, or chunks in PostgreSQL). */
  releases: Releases | null;
  /** The day files themselves, for the archive (data directory only, for now). */
  fileStore: FileStore | null;
  /** relevo.db, for the archive manifest (data directory only, for now). */
  stateDb: { db: Database; writer: GroupCommit } | null;
  /** The alerts' state (relevo.db, or PostgreSQL shared by the servers), opened for --alerts. */
  openAlertState(): AlertState;
  /** The PostgreSQL client and report store, for the archive (--database only). */
  pg: { sql: SQL; reports: PgReportStore } | null;
  /** For the start line. */
  where: string;
  close(): Promise<void>;
}

/** Throws when the server would listen where anyone could read the inventory without a token. */
export type TokenGate = (registry: TokenCheck, hint: string) => void;

export function openBackend(settings: BackendSettings, gate: TokenGate): Promise<Backend> {
  return settings.database ? openDatabase(settings, settings.database, gate) : openEmbedded(settings, gate);
}

async function openEmbedded(settings: BackendSettings, gate: TokenGate): Promise<Backend> {
  const dataDir = resolve(settings.dataDir);
  // Reports name hosts, users and processes: the directory is for the server alone.
  if (!existsSync(dataDir)) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const registry = new TokenRegistry(dataDir);
  gate(registry, `--data ${dataDir}`);
  const store = await openFileStore({
    dir: dataDir,
    fsync: settings.fsync,
    dayZone: settings.dayZone,
    ...(settings.observer ? { observer: settings.observer } : {}),
  });
  try {
    const logs = openLogs(dataDir, {
      retentionDays: settings.logsRetentionDays,
      maxBytes: settings.logsMaxBytes,
      clock: () => new Date(),
    });
    const commands = new CommandHub(logs.db, () => new Date());
    const software = new SoftwareStore(logs.db, logs.writer);
    return {
      store,
      logs: logs.store,
      agents: new AgentStore(logs.db, logs.writer, settings.staleAfterMs),
      registry,
      commands,
      software,
      releases: new ReleaseStore(logs.db, dataDir),
      fileStore: store,
      stateDb: { db: logs.db, writer: logs.writer },
      openAlertState: () => new AlertDb(logs.db, logs.writer),
      pg: null,
      where: `data ${dataDir}, fsync ${settings.fsync}`,
      async close() {
        commands.close();
        await software.idle();
        await logs.close();
        await store.close();
        registry.flushUsage();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

async function openDatabase(
  settings: BackendSettings,
  database: DatabaseFlags,
  gate: TokenGate,
): Promise<Backend> {
  if (settings.fsync === "never") {
    throw new UsageError(
      "--fsync never does not go with --database: PostgreSQL's own settings (synchronous_commit) decide when a commit is durable",
    );
  }
  if (settings.logsMaxBytes > 0) {
    throw new UsageError(
      "--logs-max-bytes does not go with --database (PostgreSQL frees deleted rows' space only on VACUUM); bound the logs by --logs-retention-days",
    );
  }
  // Loaded only here: a server on the data directory never loads the PostgreSQL backend.
  const { openPgBackend } = await import("./pg/open.ts");
  const { PgAlertDb } = await import("./pg/alert-db.ts");
  const { PgReleaseStore } = await import("./pg/release-store.ts");
  const pg = await openPgBackend({
    ...database,
    clock: () => new Date(),
    dayZone: settings.dayZone,
    logsRetentionDays: settings.logsRetentionDays,
    staleAfterMs: settings.staleAfterMs,
  });
  const where = redactUrl(database.url);
  try {
    gate(pg.tokens, `--database ${where}`);
  } catch (error) {
    await pg.close();
    throw error;
  }
  return {
    store: pg.store,
    logs: pg.logs,
    agents: pg.agents,
    registry: pg.tokens,
    commands: pg.commands,
    software: pg.software,
    releases: new PgReleaseStore(pg.sql),
    fileStore: null,
    stateDb: null,
    openAlertState: () => new PgAlertDb(pg.sql),
    pg: { sql: pg.sql, reports: pg.store },
    where: `database ${where}`,
    close: () => pg.close(),
  };
}
