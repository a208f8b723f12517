// Opens the PostgreSQL backend for `serve`: connects (a clear message, password hidden, when it cannot),
// migrates under the advisory lock, then builds the report store, logs, agents and tokens on one pool.
import type { SQL } from "bun";
import { errorMessage } from "../../shared/errors.ts";
import type { DayZone } from "../day.ts";
import { LogRetention } from "../logs/retention.ts";
import { PgAgentStore } from "./agent-store.ts";
import { PgCommandHub } from "./command-hub.ts";
import { createSql, type DatabaseSettings, redactUrl } from "./connect.ts";
import { PgLogStore } from "./log-store.ts";
import { migratePg, PgSchemaTooNewError } from "./migrate.ts";
import { PgReportStore } from "./report-store.ts";
import { PG_MIGRATIONS } from "./schema.ts";
import { PgSoftwareStore } from "./software-store.ts";
import { PgTokens } from "./tokens.ts";

export interface PgBackend {
  sql: SQL;
  store: PgReportStore;
  logs: PgLogStore;
  agents: PgAgentStore;
  tokens: PgTokens;
  commands: PgCommandHub;
  software: PgSoftwareStore;
  close(): Promise<void>;
}

interface OpenPgOptions extends DatabaseSettings {
  clock: () => Date;
  dayZone: DayZone;
  logsRetentionDays: number;
  staleAfterMs: number;
}

/** The database is not usable: printed as it is, the server does not start. */
export class PgOpenError extends Error {
  override name = "PgOpenError";
}

/** Connects and migrates; the client is closed again when that fails. */
export async function connectPg(settings: DatabaseSettings, now: Date): Promise<SQL> {
  const sql = createSql(settings);
  const where = redactUrl(settings.url);
  try {
    await sql`SELECT 1`;
  } catch (error) {
    await sql.close().catch(() => {});
    throw new PgOpenError(`cannot connect to ${where}: ${errorMessage(error)}`);
  }
  try {
    await migratePg(sql, PG_MIGRATIONS, now);
  } catch (error) {
    await sql.close().catch(() => {});
    if (error instanceof PgSchemaTooNewError) throw new PgOpenError(`${where}: ${error.message}`);
    throw new PgOpenError(`${where}: the schema could not be brought up to date (${errorMessage(error)})`);
  }
  return sql;
}

export async function openPgBackend(options: OpenPgOptions): Promise<PgBackend> {
  const sql = await connectPg(options, options.clock());
  try {
    const store = new PgReportStore(sql, { clock: options.clock, dayZone: options.dayZone });
    await store.open();
    const tokens = await PgTokens.open(sql);
    const logs = new PgLogStore(sql, options.logsRetentionDays);
    const retention = new LogRetention(logs, { clock: options.clock });
    retention.start();
    const agents = new PgAgentStore(sql, options.staleAfterMs);
    const commands = await PgCommandHub.open(sql, options.clock);
    const software = new PgSoftwareStore(sql);
    return {
      sql,
      store,
      logs,
      agents,
      tokens,
      commands,
      software,
      async close() {
        await commands.close();
        await software.idle();
        await retention.stop();
        await store.close();
        await tokens.close();
        await sql.close({ timeout: 5 });
      },
    };
  } catch (error) {
    await sql.close().catch(() => {});
    throw new PgOpenError(`${redactUrl(options.url)}: ${errorMessage(error)}`);
  }
}
