// Opens relevo.db for the central logs: the database, its group-commit writer, the log store and its
// background retention, closed again in the reverse order.

import { Database } from "bun:sqlite";
import { logger } from "../../shared/log.ts";
import { StateDbReadOnlyError } from "../db/errors.ts";
import { GroupCommit } from "../db/group-commit.ts";
import { migrate } from "../db/migrations.ts";
import { MIGRATIONS } from "../db/schema.ts";
import { openStateDb, type StateDb } from "../db/state-db.ts";
import { LogStore } from "./log-store.ts";
import { LogRetention } from "./retention.ts";

interface OpenLogsOptions {
  retentionDays: number;
  maxBytes: number;
  clock: () => Date;
}

export interface OpenLogs {
  /** relevo.db itself, for the other tables kept there (agents), written through the same `writer`. */
  db: Database;
  store: LogStore;
  retention: LogRetention;
  writer: GroupCommit;
  close(): Promise<void>;
}

/**
 * On a read-only data directory the file store still serves reads; the logs cannot even open relevo.db
 * (WAL needs its -shm file), so they answer from an empty, query-only schema: POST gets 503 and /health
 * says why. The file on disk is not touched.
 */
function unavailable(dataDir: string, error: StateDbReadOnlyError, now: Date): StateDb {
  logger("logs").warn(
    `${error.message}: central logs are unavailable until it is writable and the server restarts`,
  );
  const db = new Database(":memory:");
  migrate(db, MIGRATIONS, now);
  db.run("PRAGMA query_only = ON");
  return { db, path: dataDir, migrated: [], close: () => db.close() };
}

export function openLogs(dataDir: string, options: OpenLogsOptions): OpenLogs {
  let state: StateDb;
  let problem: string | undefined;
  try {
    state = openStateDb(dataDir, { now: options.clock() });
  } catch (error) {
    if (!(error instanceof StateDbReadOnlyError)) throw error;
    state = unavailable(dataDir, error, options.clock());
    problem = error.message;
  }
  const writer = new GroupCommit(state.db);
  const store = new LogStore(state.db, writer, {
    retentionDays: options.retentionDays,
    maxBytes: options.maxBytes,
    problem,
  });
  const retention = new LogRetention(store, { clock: options.clock });
  retention.start();
  return {
    db: state.db,
    store,
    retention,
    writer,
    async close() {
      await retention.stop();
      writer.close();
      state.close();
    },
  };
}
