// Central logs in relevo.db: inserts go through the group commit (acknowledged once committed), pages are
// read by keyset within a snapshot, and the figures /health shows are kept as counters, not counted.
import type { Database, Statement } from "bun:sqlite";
import { formatIsoMicros } from "../../shared/iso-time.ts";
import { LEVEL_SEVERITY, type LogPage, type LogQuery, type LogRecord } from "../../shared/logs.ts";
import { asStoreError } from "../db/errors.ts";
import type { GroupCommit } from "../db/group-commit.ts";
import { StoreUnavailableError } from "../store/types.ts";
import { decodeCursor, encodeCursor, filterDigest } from "./cursor.ts";
import { countQuery, filtersOf, pageQuery, type SqlValue } from "./query.ts";

/** A validated entry, ready for its row. Times in microseconds since the epoch, UTC. */
export interface NewLogEntry {
  ts: number;
  service: string;
  level: number;
  message: string;
  host: string | null;
  /** JSON text of the attributes object, or null. */
  attributes: string | null;
  entryId: string | null;
}

export interface Row {
  id: number;
  ts: number;
  received: number;
  service: string;
  level: number;
  message: string;
  host: string | null;
  attributes: string | null;
  entry_id: string | null;
}

import type { LogHealth } from "../../shared/api.ts";

export type { LogHealth };

const ROWS_PER_INSERT = 32;

export class BadCursorError extends Error {
  override name = "BadCursorError";
}

export interface LogStoreOptions {
  /** Entries waiting for a commit before new ones get 503 (default 200,000). */
  maxPending?: number;
  /** A page stops growing past this many bytes of messages and attributes (default 16 MiB). */
  maxPageBytes?: number;
  retentionDays?: number;
  maxBytes?: number;
  /** Why writes cannot work from the start (a read-only data directory). */
  problem?: string;
}

/** What the log routes and retention need, from relevo.db (LogStore) or PostgreSQL (PgLogStore). */
export interface Logs {
  readonly retentionDays: number;
  readonly maxBytes: number;
  insert(entries: readonly NewLogEntry[], received: Date): Promise<{ stored: number; duplicates: number }>;
  /** Throws BadCursorError for a cursor of other filters or not made here. */
  query(query: LogQuery): LogPage | Promise<LogPage>;
  trim(now: Date, chunk: number): Promise<number>;
  health(): LogHealth | Promise<LogHealth>;
}

export class LogStore implements Logs {
  readonly retentionDays: number;
  readonly maxBytes: number;
  #entries: number;
  #pending = 0;
  #deleted = 0;
  #problem: string | undefined;
  readonly #insertOne: Statement;
  readonly #insertMany: Statement;
  readonly #maxPending: number;
  readonly #maxPageBytes: number;
  #hold: (() => number | null) | undefined;

  constructor(
    private readonly db: Database,
    private readonly writer: GroupCommit,
    options: LogStoreOptions = {},
  ) {
    this.#maxPending = options.maxPending ?? 200_000;
    this.#maxPageBytes = options.maxPageBytes ?? 16 * 1024 * 1024;
    this.retentionDays = options.retentionDays ?? 0;
    this.maxBytes = options.maxBytes ?? 0;
    this.#problem = options.problem;
    const insert =
      "INSERT OR IGNORE INTO logs (ts, received, service, level, message, host, attributes, entry_id) VALUES ";
    const row = "(?, ?, ?, ?, ?, ?, ?, ?)";
    this.#insertOne = db.prepare(insert + row);
    this.#insertMany = db.prepare(insert + Array(ROWS_PER_INSERT).fill(row).join(", "));
    this.#entries = (db.query("SELECT count(*) AS n FROM logs").get() as { n: number }).n;
  }

  /** Stores a whole batch or nothing; resolves once it is committed. */
  async insert(
    entries: readonly NewLogEntry[],
    received: Date,
  ): Promise<{ stored: number; duplicates: number }> {
    if (this.#pending + entries.length > this.#maxPending) {
      throw new StoreUnavailableError("the log store is busy: too many entries are waiting to be written");
    }
    const receivedMicros = received.getTime() * 1000;
    this.#pending += entries.length;
    try {
      const stored = await this.writer.run(() => this.#insertRows(entries, receivedMicros));
      this.#entries += stored;
      this.#problem = undefined;
      return { stored, duplicates: entries.length - stored };
    } catch (error) {
      if (error instanceof StoreUnavailableError) this.#problem = error.message;
      throw error;
    } finally {
      this.#pending -= entries.length;
    }
  }

  /** Rows go in ROWS_PER_INSERT at a time: one call into SQLite per 32 rows, measured 30-60% faster. */
  #insertRows(entries: readonly NewLogEntry[], received: number): number {
    let changes = 0;
    let at = 0;
    const params: (string | number | null)[] = [];
    for (; at + ROWS_PER_INSERT <= entries.length; at += ROWS_PER_INSERT) {
      params.length = 0;
      for (let i = at; i < at + ROWS_PER_INSERT; i++) {
        const e = entries[i] as NewLogEntry;
        params.push(e.ts, received, e.service, e.level, e.message, e.host, e.attributes, e.entryId);
      }
      changes += this.#insertMany.run(...params).changes;
    }
    for (; at < entries.length; at++) {
      const e = entries[at] as NewLogEntry;
      changes += this.#insertOne.run(
        e.ts,
        received,
        e.service,
        e.level,
        e.message,
        e.host,
        e.attributes,
        e.entryId,
      ).changes;
    }
    return changes;
  }

  /** One page of entries; throws BadCursorError for a cursor of other filters or not made here. */
  query(query: LogQuery): LogPage {
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
    const snapshot = cursor?.snapshot ?? this.#newestId();
    // severity and min_severity that exclude each other match nothing (and `level IN ()` is no SQL).
    const none = filters.levels?.length === 0;
    let total: number | undefined;
    if (query.total) total = none ? 0 : (this.#read<{ n: number }>(countQuery(filters, snapshot))[0]?.n ?? 0);
    if (none) {
      return { count: 0, ...(total === undefined ? {} : { total }), logs: [], next: null };
    }
    const rows = this.#read<Row>(pageQuery(filters, snapshot, cursor, query.limit, query.offset));
    const logs: LogRecord[] = [];
    let bytes = 0;
    for (const row of rows.slice(0, query.limit)) {
      bytes += row.message.length + (row.attributes?.length ?? 0);
      if (logs.length > 0 && bytes > this.#maxPageBytes) break;
      logs.push(recordOf(row));
    }
    const lastRow = rows[logs.length - 1];
    const next =
      rows.length > logs.length && lastRow
        ? encodeCursor({ snapshot, ts: lastRow.ts, id: lastRow.id, filters: digest })
        : null;
    return { count: logs.length, ...(total === undefined ? {} : { total }), logs, next };
  }

  /**
   * With the log archive on: entries received at or after the returned time (microseconds) are kept by
   * retention, so no day goes before its object is verified in the bucket. null: no hold.
   */
  holdRetention(hold: () => number | null): void {
    this.#hold = hold;
  }

  /**
   * Deletes up to `chunk` of the oldest entries beyond the retention bounds, in the next group's
   * transaction. Resolves with how many went; 0 means nothing is left to do.
   */
  async trim(now: Date, chunk: number): Promise<number> {
    const deleted = await this.writer.run(() => {
      let gone = 0;
      if (this.retentionDays > 0) {
        const due = (now.getTime() - this.retentionDays * 86_400_000) * 1000;
        const held = this.#hold?.() ?? null;
        const cutoff = held === null ? due : Math.min(due, held);
        gone += this.db
          .query(
            "DELETE FROM logs WHERE id IN (SELECT id FROM logs INDEXED BY logs_received WHERE received < ? ORDER BY received LIMIT ?)",
          )
          .run(cutoff, chunk).changes;
      }
      if (gone < chunk && this.maxBytes > 0 && this.#usedBytes() > this.maxBytes) {
        gone += this.db
          .query("DELETE FROM logs WHERE id IN (SELECT id FROM logs ORDER BY id LIMIT ?)")
          .run(chunk - gone).changes;
      }
      return gone;
    });
    this.#entries -= deleted;
    this.#deleted += deleted;
    return deleted;
  }

  health(): LogHealth {
    let bytes = 0;
    let oldest: string | null = null;
    let problem = this.#problem;
    try {
      bytes = this.#usedBytes();
      const row = this.db.query("SELECT min(received) AS r FROM logs").get() as { r: number | null };
      oldest = row.r === null ? null : formatIsoMicros(row.r);
    } catch (error) {
      const failure = asStoreError(error);
      problem = failure instanceof Error ? failure.message : String(failure);
    }
    return {
      writable: problem === undefined,
      entries: this.#entries,
      bytes,
      oldest_received_at: oldest,
      retention_days: this.retentionDays,
      max_bytes: this.maxBytes,
      deleted_by_retention: this.#deleted,
      ...(problem === undefined ? {} : { problem }),
    };
  }

  #usedBytes(): number {
    const pages = (this.db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
    const free = (this.db.query("PRAGMA freelist_count").get() as { freelist_count: number }).freelist_count;
    const size = (this.db.query("PRAGMA page_size").get() as { page_size: number }).page_size;
    return (pages - free) * size;
  }

  #newestId(): number {
    return (this.db.query("SELECT max(id) AS id FROM logs").get() as { id: number | null }).id ?? 0;
  }

  #read<T>(built: { sql: string; params: SqlValue[] }): T[] {
    try {
      return this.db.query(built.sql).all(...built.params) as T[];
    } catch (error) {
      throw asStoreError(error);
    }
  }
}

/** A row as GET /logs answers it (also the log archive's NDJSON lines). */
export function recordOf(row: Row): LogRecord {
  return {
    id: row.id,
    timestamp: formatIsoMicros(row.ts),
    received_at: formatIsoMicros(row.received),
    service: row.service,
    severity: LEVEL_SEVERITY[row.level] ?? "INFO",
    message: row.message,
    host: row.host,
    attributes: row.attributes === null ? null : (JSON.parse(row.attributes) as Record<string, unknown>),
    entry_id: row.entry_id,
  };
}
