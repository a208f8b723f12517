// Opens relevo.db for the central logs: the database, its group-commit writer, the log store and its
// background retention, closed again in the reverse order.

import { GroupCommit } from "../db/group-commit.ts";
import { openStateDb } from "../db/state-db.ts";
import { LogStore } from "./log-store.ts";
import { LogRetention } from "./retention.ts";

export interface OpenLogsOptions {
  retentionDays: number;
  maxBytes: number;
  clock: () => Date;
}

export interface OpenLogs {
  store: LogStore;
  retention: LogRetention;
  writer: GroupCommit;
  close(): Promise<void>;
}

export function openLogs(dataDir: string, options: OpenLogsOptions): OpenLogs {
  const state = openStateDb(dataDir, { now: options.clock() });
  const writer = new GroupCommit(state.db);
  const store = new LogStore(state.db, writer, {
    retentionDays: options.retentionDays,
    maxBytes: options.maxBytes,
  });
  const retention = new LogRetention(store, { clock: options.clock });
  retention.start();
  return {
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
