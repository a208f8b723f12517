// GET /logs as SQL: every filter becomes a bound parameter (nothing the client sent is ever spliced into
// the SQL text), and the index is chosen by rule from the filters, so a page costs the same on 2 M rows as
// on 2 thousand whatever statistics SQLite has gathered.
import { type LogQuery, SEVERITIES, SEVERITY_LEVEL } from "../../shared/logs.ts";
import type { Cursor } from "./cursor.ts";

export type SqlValue = string | number;

/** The filters of a query, normalized: what a cursor's digest covers. */
interface LogFilters {
  tsFrom?: number;
  tsTo?: number;
  receivedFrom?: number;
  receivedTo?: number;
  service?: string;
  /** Severity numbers allowed (from `severity` and `min_severity` together); undefined: all. */
  levels?: number[];
  q?: string;
  order: "asc" | "desc";
}

export function filtersOf(query: LogQuery): LogFilters {
  let levels: number[] | undefined = query.severity?.map((name) => SEVERITY_LEVEL[name]);
  if (query.min_severity) {
    const min = SEVERITY_LEVEL[query.min_severity];
    levels = (levels ?? SEVERITIES.map((name) => SEVERITY_LEVEL[name])).filter((level) => level >= min);
  }
  if (levels) levels = [...new Set(levels)].sort((a, b) => a - b);
  return {
    tsFrom: query.timestamp_start,
    tsTo: query.timestamp_end,
    receivedFrom: query.received_at_start,
    receivedTo: query.received_at_end,
    service: query.service,
    levels,
    q: query.q,
    order: query.order,
  };
}

/** logs_service_high's bound: queries repeat it literally, which is how SQLite knows the index applies. */
const HIGH = 30;

const onlyHigh = (filters: LogFilters) => filters.levels?.every((level) => level >= HIGH) ?? false;

function chooseIndex(filters: LogFilters): string | null {
  if (filters.service !== undefined) return onlyHigh(filters) ? "logs_service_high" : "logs_service_ts";
  if (filters.levels?.length === 1 || onlyHigh(filters)) return "logs_level_ts";
  // Only a receive window: let SQLite weigh the received index against walking the timestamps.
  if (
    (filters.receivedFrom !== undefined || filters.receivedTo !== undefined) &&
    filters.tsFrom === undefined &&
    filters.tsTo === undefined
  ) {
    return null;
  }
  return "logs_ts";
}

function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, "\\$&")}%`;
}

interface BuiltQuery {
  sql: string;
  params: SqlValue[];
}

/** WHERE clause of the filters within a snapshot (ids up to `snapshot`). */
function where(filters: LogFilters, snapshot: number): { clauses: string[]; params: SqlValue[] } {
  const clauses = ["id <= ?"];
  const params: SqlValue[] = [snapshot];
  const add = (clause: string, ...values: SqlValue[]) => {
    clauses.push(clause);
    params.push(...values);
  };
  if (filters.service !== undefined) add("service = ?", filters.service);
  if (filters.levels) add(`level IN (${filters.levels.map(() => "?").join(", ")})`, ...filters.levels);
  if (filters.service !== undefined && onlyHigh(filters)) add(`level >= ${HIGH}`);
  if (filters.tsFrom !== undefined) add("ts >= ?", filters.tsFrom);
  if (filters.tsTo !== undefined) add("ts <= ?", filters.tsTo);
  if (filters.receivedFrom !== undefined) add("received >= ?", filters.receivedFrom);
  if (filters.receivedTo !== undefined) add("received <= ?", filters.receivedTo);
  if (filters.q !== undefined) add("message LIKE ? ESCAPE '\\'", likePattern(filters.q));
  return { clauses, params };
}

const COLUMNS = "id, ts, received, service, level, message, host, attributes, entry_id";

/** One page: `limit + 1` rows so the caller knows whether another page follows. */
export function pageQuery(
  filters: LogFilters,
  snapshot: number,
  cursor: Cursor | null,
  limit: number,
  offset: number,
): BuiltQuery {
  const { clauses, params } = where(filters, snapshot);
  const desc = filters.order === "desc";
  if (cursor) {
    clauses.push(desc ? "(ts, id) < (?, ?)" : "(ts, id) > (?, ?)");
    params.push(cursor.ts, cursor.id);
  }
  const index = chooseIndex(filters);
  const direction = desc ? "DESC" : "ASC";
  const sql =
    `SELECT ${COLUMNS} FROM logs${index ? ` INDEXED BY ${index}` : ""} WHERE ${clauses.join(" AND ")}` +
    ` ORDER BY ts ${direction}, id ${direction} LIMIT ? OFFSET ?`;
  params.push(limit + 1, offset);
  return { sql, params };
}

export function countQuery(filters: LogFilters, snapshot: number): BuiltQuery {
  const { clauses, params } = where(filters, snapshot);
  const index = chooseIndex(filters);
  return {
    sql: `SELECT count(*) AS n FROM logs${index ? ` INDEXED BY ${index}` : ""} WHERE ${clauses.join(" AND ")}`,
    params,
  };
}
