// The same suite against both backends: the data directory (file store, relevo.db) and PostgreSQL, started
// by the suite itself (test/helpers/postgres.ts). `forEachBackend` wraps a suite in one describe per backend;
// the PostgreSQL one skips, with the reason, only where PostgreSQL is not installed. Each open*() gives an
// empty store: a fresh data directory, or a fresh database on the suite's cluster.
import { afterAll, beforeAll, describe } from "bun:test";
import type { SQL } from "bun";
import type { Agents } from "../../src/server/agents/agent-store.ts";
import { AgentStore } from "../../src/server/agents/agent-store.ts";
import type { Logs } from "../../src/server/logs/log-store.ts";
import { openLogs } from "../../src/server/logs/open.ts";
import { PgAgentStore } from "../../src/server/pg/agent-store.ts";
import { createSql } from "../../src/server/pg/connect.ts";
import { PgLogStore } from "../../src/server/pg/log-store.ts";
import { migratePg } from "../../src/server/pg/migrate.ts";
import { PgReportStore } from "../../src/server/pg/report-store.ts";
import { PG_MIGRATIONS } from "../../src/server/pg/schema.ts";
import { PgSoftwareStore } from "../../src/server/pg/software-store.ts";
import { type SoftwareLists, SoftwareStore } from "../../src/server/software/software-store.ts";
import { openFileStore } from "../../src/server/store/file-store.ts";
import type { Store } from "../../src/server/store/types.ts";
import { databaseName, type PgCluster, postgresMissing, startPostgres } from "./postgres.ts";
import { tempDir } from "./server.ts";

export interface Opened {
  store: Store;
  logs: Logs;
  agents: Agents;
  software: SoftwareLists;
  /** Runs one SQL statement on the backend's database (to break it on purpose). */
  exec(statement: string): Promise<void>;
  /** Where the backend lives: the data directory, or the database URL. */
  where: string;
  close(): Promise<void>;
}

export interface TestBackend {
  name: "file" | "postgres";
  /** Store, logs and agents, empty, on a clock of the test's choosing. */
  open(options?: { clock?: () => Date; staleAfterMs?: number; retentionDays?: number }): Promise<Opened>;
  /** Flags for `relevo-server serve` that put it on a fresh, empty backend ([] for a data directory). */
  serverArgs(): Promise<string[]>;
  /** The cluster (postgres only), for tests that restart it. */
  cluster(): PgCluster | null;
}

function fileBackend(): TestBackend {
  return {
    name: "file",
    async open(options = {}) {
      const dir = tempDir();
      const clock = options.clock ?? (() => new Date());
      const store = await openFileStore({ dir, clock });
      const logs = openLogs(dir, { retentionDays: options.retentionDays ?? 0, maxBytes: 0, clock });
      const agents = new AgentStore(logs.db, logs.writer, options.staleAfterMs ?? 900_000);
      const software = new SoftwareStore(logs.db, logs.writer);
      return {
        store,
        logs: logs.store,
        agents,
        software,
        exec: async (statement) => {
          logs.db.run(statement);
        },
        where: dir,
        async close() {
          await software.idle();
          await logs.close();
          await store.close();
        },
      };
    },
    serverArgs: async () => [],
    cluster: () => null,
  };
}

function postgresBackend(): TestBackend {
  let cluster: PgCluster | null = null;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    cluster = null;
  });
  const freshDatabase = async (name = databaseName("t")) => {
    if (!cluster) throw new Error("the PostgreSQL cluster is not running");
    return await cluster.createDatabase(name);
  };
  return {
    name: "postgres",
    async open(options = {}) {
      const name = databaseName("t");
      const url = await freshDatabase(name);
      const clock = options.clock ?? (() => new Date());
      const sql: SQL = createSql({ url, max: 4 });
      await migratePg(sql, PG_MIGRATIONS, clock());
      const store = new PgReportStore(sql, { clock });
      await store.open();
      const software = new PgSoftwareStore(sql);
      return {
        store,
        logs: new PgLogStore(sql, options.retentionDays ?? 0),
        agents: new PgAgentStore(sql, options.staleAfterMs ?? 900_000),
        software,
        exec: async (statement) => {
          await sql.unsafe(statement);
        },
        where: url,
        async close() {
          await software.idle();
          await store.close();
          await sql.close();
          await cluster?.dropDatabase(name);
        },
      };
    },
    serverArgs: async () => ["--database", await freshDatabase()],
    cluster: () => cluster,
  };
}

/** One describe per backend around `suite`; PostgreSQL's skips with the reason where it is not installed. */
export function forEachBackend(suite: (backend: TestBackend) => void): void {
  describe("file backend", () => suite(fileBackend()));
  const missing = postgresMissing();
  describe.skipIf(missing !== null)(`postgres backend${missing ? ` (skipped: ${missing})` : ""}`, () =>
    suite(postgresBackend()),
  );
}
