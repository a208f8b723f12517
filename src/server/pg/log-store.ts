// Central logs on PostgreSQL: the same API as relevo.db's LogStore (batches all or nothing, keyset pages
// within a snapshot, retention in chunks), shared by every server on the database. Filters are bound
// parameters, never SQL text.
import type { SQL } from "bun";
import type { LogHealth } from "../../shared/api.ts";
import { formatIsoMicros } from "../../shared/iso-time.ts";
import { LEVEL_SEVERITY, type LogPage, type LogQuery, type LogRecord } from "../../shared/logs.ts";
import { decodeCursor, encodeCursor, filterDigest } from "../logs/cursor.ts";
import { BadCursorError, type Logs, type NewLogEntry } from "../logs/log-store.ts";
import { filtersOf } from "../logs/query.ts";
import { asUnavailable } from "./errors.ts";

/** Rows per INSERT: 8 parameters each, under PostgreSQL's 65,535 per statement. */
const ROWS_PER_INSERT = 4000;
/** A page stops growing past this many bytes of messages and attributes, as relevo.db's does. */
const MAX_PAGE_BYTES = 16 * 1024 * 1024;
const COLUMNS =
  "id::text AS id, ts::text AS ts, received::text AS received, service, level, message, host, attributes, entry_id";

interface Row {
  id: string;
  ts: string;
  received: string;
  service: string;
  level: number;
  message: string;
  host: string | null;
  attributes: string | null;
  entry_id: string | null;
}

type Filters = ReturnType<typeof filtersOf>;

function where(filters: Filters, snapshot: number): { text: string; params: Array<string | number> } {
  const clauses = ["id <= $1"];
  const params: Array<string | number> = [snapshot];
  const add = (clause: (n: number) => string, value: string | number) => {
    params.push(value);
    clauses.push(clause(params.length));
  };
  if (filters.service !== undefined) add((n) => `service = $${n}`, filters.service);
  if (filters.levels) {
    const first = params.length + 1;
    params.push(...filters.levels);
    clauses.push(`level IN (${filters.levels.map((_, i) => `$${first + i}`).join(", ")})`);
  }
  if (filters.tsFrom !== undefined) add((n) => `ts >= $${n}`, filters.tsFrom);
  if (filters.tsTo !== undefined) add((n) => `ts <= $${n}`, filters.tsTo);
  if (filters.receivedFrom !== undefined) add((n) => `received >= $${n}`, filters.receivedFrom);
  if (filters.receivedTo !== undefined) add((n) => `received <= $${n}`, filters.receivedTo);
  // ILIKE: relevo.db's LIKE ignores case too.
  if (filters.q !== undefined)
    add((n) => `message ILIKE $${n} ESCAPE '\\'`, `%${filters.q.replace(/[\\%_]/g, "\\$&")}%`);
  return { text: clauses.join(" AND "), params };
}

export class PgLogStore implements Logs {
  #deleted = 0;
  #problem: string | undefined;

  constructor(
    private readonly sql: SQL,
    readonly retentionDays = 0,
    /** Not supported on PostgreSQL (deleted rows free space only after VACUUM): must be 0. */
    readonly maxBytes = 0,
  ) {}

  async insert(
    entries: readonly NewLogEntry[],
    received: Date,
  ): Promise<{ stored: number; duplicates: number }> {
    const receivedMicros = received.getTime() * 1000;
    const rows = entries.map((e) => ({
      ts: e.ts,
      received: receivedMicros,
      service: e.service,
      level: e.level,
      message: e.message,
      host: e.host,
      attributes: e.attributes,
      entry_id: e.entryId,
    }));
    try {
      const stored = await this.sql.begin(async (tx) => {
        let count = 0;
        for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) {
          const chunk = rows.slice(at, at + ROWS_PER_INSERT);
          const result = await tx`INSERT INTO logs ${tx(chunk)} ON CONFLICT DO NOTHING`;
          count += result.count;
        }
        return count;
      });
      this.#problem = undefined;
      return { stored, duplicates: entries.length - stored };
    } catch (error) {
      const failure = asUnavailable(error, "PostgreSQL");
      if (failure !== error) this.#problem = (failure as Error).message;
      throw failure;
    }
  }

  async query(query: LogQuery): Promise<LogPage> {
    const filters = filtersOf(query);
    const digest = filterDigest(filters);
    let cursor = null;
    if (query.cursor !== undefined) {
      cursor = decodeCursor(query.cursor);
      if (!cursor) throw new BadCursorError("cursor is not one this server handed out");
      if (cursor.filters !== digest) {
        throw new BadCursorError("cursor belongs to a query with other filters or order; repeat those");
      }
    }
    const snapshot =
      cursor?.snapshot ??
      Number(
        (await this.#read<{ id: string }>("SELECT coalesce(max(id), 0)::text AS id FROM logs", []))[0]?.id,
      );
    const none = filters.levels?.length === 0;
    const { text, params } = where(filters, snapshot);
    let total: number | undefined;
    if (query.total) {
      total = none
        ? 0
        : Number(
            (await this.#read<{ n: string }>(`SELECT count(*)::text AS n FROM logs WHERE ${text}`, params))[0]
              ?.n,
          );
    }
    if (none) return { count: 0, ...(total === undefined ? {} : { total }), logs: [], next: null };
    const desc = filters.order === "desc";
    let clauses = text;
    const all = [...params];
    if (cursor) {
      all.push(cursor.ts, cursor.id);
      clauses += ` AND (ts, id) ${desc ? "<" : ">"} ($${all.length - 1}, $${all.length})`;
    }
    all.push(query.limit + 1, query.offset);
    const direction = desc ? "DESC" : "ASC";
    const rows = await this.#read<Row>(
      `SELECT ${COLUMNS} FROM logs WHERE ${clauses} ORDER BY logs.ts ${direction}, logs.id ${direction} LIMIT $${all.length - 1} OFFSET $${all.length}`,
      all,
    );
    const logs: LogRecord[] = [];
    let bytes = 0;
    for (const row of rows.slice(0, query.limit)) {
      bytes += row.message.length + (row.attributes?.length ?? 0);
      if (logs.length > 0 && bytes > MAX_PAGE_BYTES) break;
      logs.push(recordOf(row));
    }
    const lastRow = rows[logs.length - 1];
    const next =
      rows.length > logs.length && lastRow
        ? encodeCursor({ snapshot, ts: Number(lastRow.ts), id: Number(lastRow.id), filters: digest })
        : null;
    return { count: logs.length, ...(total === undefined ? {} : { total }), logs, next };
  }

  async trim(now: Date, chunk: number): Promise<number> {
    if (this.retentionDays <= 0) return 0;
    const cutoff = (now.getTime() - this.retentionDays * 86_400_000) * 1000;
    try {
      const result = await this
        .sql`DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE received < ${cutoff} ORDER BY received LIMIT ${chunk})`;
      this.#deleted += result.count;
      return result.count;
    } catch (error) {
      throw asUnavailable(error, "PostgreSQL");
    }
  }

  async health(): Promise<LogHealth> {
    let entries = 0;
    let bytes = 0;
    let oldest: string | null = null;
    let problem = this.#problem;
    try {
      const [row] = await this.sql`SELECT count(*)::text AS n, min(received)::text AS oldest,
        pg_total_relation_size('logs')::text AS bytes FROM logs`;
      entries = Number(row?.n ?? 0);
      bytes = Number(row?.bytes ?? 0);
      oldest = row?.oldest ? formatIsoMicros(Number(row.oldest)) : null;
    } catch (error) {
      problem = (asUnavailable(error, "PostgreSQL") as Error).message;
    }
    return {
      writable: problem === undefined,
      entries,
      bytes,
      oldest_received_at: oldest,
      retention_days: this.retentionDays,
      max_bytes: this.maxBytes,
      deleted_by_retention: this.#deleted,
      ...(problem === undefined ? {} : { problem }),
    };
  }

  async #read<T>(text: string, params: Array<string | number>): Promise<T[]> {
    try {
      return (await this.sql.unsafe(text, params)) as T[];
    } catch (error) {
      throw asUnavailable(error, "PostgreSQL");
    }
  }
}

function recordOf(row: Row): LogRecord {
  return {
    id: Number(row.id),
    timestamp: formatIsoMicros(Number(row.ts)),
    received_at: formatIsoMicros(Number(row.received)),
    service: row.service,
    severity: LEVEL_SEVERITY[row.level] ?? "INFO",
    message: row.message,
    host: row.host,
    attributes: row.attributes === null ? null : (JSON.parse(row.attributes) as Record<string, unknown>),
    entry_id: row.entry_id,
  };
}
