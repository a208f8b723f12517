// POST /logs and GET /logs, the central log API, as a sub-app built from what it needs. A batch is all or
// nothing: every entry is checked before any is stored, and the 422 names the index and field of each bad
// one. The write guard may bind the caller to one service by setting `logService` (a `logs` token): entries
// of another service are refused with 403, entries without one get the token's.
import type { Context, Hono } from "hono";
import * as v from "valibot";
import {
  type LogEntry,
  LogEntrySchema,
  LogQuerySchema,
  MAX_ENTRIES_PER_POST,
  SEVERITY_LEVEL,
} from "../../shared/logs.ts";
import { readJsonBody } from "../body.ts";
import type { AppEnv } from "../env.ts";
import { ApiError, type ErrorDetail } from "../http-error.ts";
import { BadCursorError, type Logs, type NewLogEntry } from "../logs/log-store.ts";
import { type RouteKit, resource } from "./_endpoint.ts";

const MAX_DETAILS = 100;

export function logsRoutes(kit: RouteKit, logs: Logs): Hono<AppEnv> {
  const { clock, maxBody, bodyTimeoutMs } = kit.options;

  const write = async (c: Context<AppEnv>) => {
    // One entry or a list of them: the shape check lets a top-level list through here.
    const body = await readJsonBody(c.req.raw, "log entries", {
      limit: maxBody,
      timeoutMs: bodyTimeoutMs,
      top: "object-or-list",
    });
    const entries = checkBatch(body, c.get("logService") ?? null);
    const { stored, duplicates } = await logs.insert(entries, clock());
    return c.json({ ok: true as const, accepted: stored + duplicates, duplicates }, 201);
  };

  const read = async (c: Context<AppEnv>) => {
    const query = v.safeParse(LogQuerySchema, queryParams(new URL(c.req.url).searchParams));
    if (!query.success) {
      throw new ApiError(
        400,
        "bad_parameters",
        `the query parameters are not valid: ${v.summarize(query.issues)}`,
        query.issues.slice(0, MAX_DETAILS).map((issue) => ({
          path: v.getDotPath(issue) ?? "",
          message: issue.message,
        })),
      );
    }
    if (query.output.cursor !== undefined && query.output.offset > 0) {
      throw new ApiError(
        400,
        "bad_parameters",
        "offset does not go with cursor: the cursor already says where",
      );
    }
    try {
      return c.json(await logs.query(query.output));
    } catch (error) {
      if (error instanceof BadCursorError) throw new ApiError(400, "bad_cursor", error.message);
      throw error;
    }
  };

  // `logs` tokens write their one service; agents' `ingest` tokens write any (an agent's `log` command
  // reuses the token it reports with, and an agent host runs many services).
  return resource(kit, "/logs", [
    { method: "POST", role: ["logs", "ingest"], handler: write },
    { method: "GET", role: "read", handler: read },
  ]);
}

/** Search parameters as one string each; `severity` may repeat (joined as a list), others may not. */
function queryParams(search: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of search) {
    if (key in out) {
      if (key !== "severity")
        throw new ApiError(400, "bad_parameters", `the parameter ${key} is given twice`);
      out[key] = `${out[key]},${value}`;
    } else out[key] = value;
  }
  return out;
}

/** Every entry checked; the rows to store, or a 4xx naming every bad entry. */
function checkBatch(body: unknown, boundService: string | null): NewLogEntry[] {
  const isArray = Array.isArray(body);
  const items: unknown[] = isArray ? body : [body];
  if (items.length === 0) throw new ApiError(422, "invalid_logs", "the batch has no entries");
  if (items.length > MAX_ENTRIES_PER_POST) {
    throw new ApiError(
      413,
      "too_many_entries",
      `a request may carry at most ${MAX_ENTRIES_PER_POST} entries, this one has ${items.length}`,
    );
  }
  const details: ErrorDetail[] = [];
  const foreign: number[] = [];
  const rows: NewLogEntry[] = [];
  let bad = 0;
  items.forEach((item, index) => {
    const where = (field: string) => (isArray ? (field ? `${index}.${field}` : String(index)) : field);
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      bad++;
      if (details.length < MAX_DETAILS)
        details.push({ path: where(""), message: "an entry must be an object" });
      return;
    }
    const parsed = v.safeParse(LogEntrySchema, item);
    if (!parsed.success) {
      bad++;
      for (const issue of parsed.issues) {
        if (details.length < MAX_DETAILS) {
          details.push({ path: where(v.getDotPath(issue) ?? ""), message: issue.message });
        }
      }
      return;
    }
    const entry = parsed.output;
    const service = entry.service ?? boundService;
    if (service === null) {
      bad++;
      if (details.length < MAX_DETAILS)
        details.push({ path: where("service"), message: "service is required" });
      return;
    }
    if (boundService !== null && service !== boundService) {
      foreign.push(index);
      return;
    }
    rows.push(rowOf(entry, service));
  });
  if (bad > 0) {
    const which = isArray ? `${bad} of ${items.length} entries are` : "the entry is";
    throw new ApiError(422, "invalid_logs", `${which} not valid; nothing was stored`, details);
  }
  if (foreign.length > 0) {
    throw new ApiError(
      403,
      "forbidden",
      `this token may write only service ${boundService}; ${isArray ? `entries ${foreign.slice(0, 20).join(", ")} name` : "the entry names"} another; nothing was stored`,
    );
  }
  return rows;
}

function rowOf(entry: LogEntry, service: string): NewLogEntry {
  return {
    ts: entry.timestamp,
    service,
    level: SEVERITY_LEVEL[entry.severity],
    message: entry.message,
    host: entry.host ?? null,
    attributes: entry.attributes ? JSON.stringify(entry.attributes) : null,
    entryId: entry.entry_id ?? null,
  };
}
