// The HTTP contract, once: the server builds its answers from these types and the agent parses them with
// these schemas. Parsing strips nothing the other side needs; an older agent ignores fields it does not know.
import * as v from "valibot";

export const ErrorDetailSchema = v.object({ path: v.string(), message: v.string() });

/** Every refusal, whatever the status: `{"error":{"code","message","details"?}}`. */
export const ErrorBodySchema = v.object({
  error: v.object({
    code: v.string(),
    message: v.string(),
    details: v.optional(v.array(ErrorDetailSchema)),
  }),
});

export const StoredSchema = v.object({ ip: v.string(), date: v.string(), file: v.string() });

/** 201 for a new report, 200 with `duplicate: true` for a retry of one already stored. */
export const UploadAnswerSchema = v.object({
  ok: v.literal(true),
  duplicate: v.boolean(),
  stored: StoredSchema,
  /** Seconds the server asks the agent to wait before its next report; null lets the agent choose. */
  next_report_in: v.nullable(v.number()),
});

/** The central log database's part of /health. */
export const LogHealthSchema = v.object({
  writable: v.boolean(),
  entries: v.number(),
  /** Pages in use by relevo.db (tables and indexes), what --logs-max-bytes bounds. */
  bytes: v.number(),
  oldest_received_at: v.nullable(v.string()),
  retention_days: v.number(),
  max_bytes: v.number(),
  deleted_by_retention: v.number(),
  problem: v.optional(v.string()),
});

/** The S3 archive's part of /health (present when an archive is configured). */
export const ArchiveHealthSchema = v.object({
  url: v.string(),
  running: v.boolean(),
  /** Day files in the manifest as verified in the bucket, and those whose last try failed. */
  archived: v.number(),
  failed: v.number(),
  last_run_at: v.nullable(v.string()),
  next_run_at: v.nullable(v.string()),
  /** With --archive-logs: days of central logs verified in the bucket, and those whose last try failed. */
  log_days_archived: v.optional(v.number()),
  log_days_failed: v.optional(v.number()),
  /** The last run's stop reason, or the newest failure's. */
  problem: v.optional(v.string()),
});

export const HealthAnswerSchema = v.object({
  status: v.picklist(["ok", "degraded"]),
  version: v.string(),
  uptime_s: v.number(),
  store: v.object({
    writable: v.boolean(),
    files: v.number(),
    /** Lines set aside as damaged since start (kept in `*.damaged-<time>` files beside the day files). */
    damaged_lines: v.number(),
    problem: v.optional(v.string()),
  }),
  logs: v.optional(LogHealthSchema),
  archive: v.optional(ArchiveHealthSchema),
});

export type ErrorDetail = v.InferOutput<typeof ErrorDetailSchema>;
export type ErrorBody = v.InferOutput<typeof ErrorBodySchema>;
export type UploadAnswer = v.InferOutput<typeof UploadAnswerSchema>;
export type HealthAnswer = v.InferOutput<typeof HealthAnswerSchema>;
export type LogHealth = v.InferOutput<typeof LogHealthSchema>;
export type ArchiveHealth = v.InferOutput<typeof ArchiveHealthSchema>;

export function errorBody(code: string, message: string, details?: ErrorDetail[]): ErrorBody {
  return { error: { code, message, ...(details ? { details } : {}) } };
}
