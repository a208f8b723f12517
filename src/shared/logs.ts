// The central log API's wire shapes (POST /logs, GET /logs), compatible with the clients of the small
// Flask + SQLite log service teams already run: entries `{ timestamp, service, severity, message }` plus
// optional `host`, `attributes` and a client-made `entry_id` that makes retries idempotent.
import * as v from "valibot";
import { parseIsoMicros } from "./iso-time.ts";

export const SEVERITIES = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export type Severity = (typeof SEVERITIES)[number];
/** Stored as numbers so `min_severity` is one range; the values are Python logging's. */
export const SEVERITY_LEVEL: Record<Severity, number> = {
  DEBUG: 10,
  INFO: 20,
  WARNING: 30,
  ERROR: 40,
  CRITICAL: 50,
};
export const LEVEL_SEVERITY: Record<number, Severity> = Object.fromEntries(
  SEVERITIES.map((name) => [SEVERITY_LEVEL[name], name]),
);

export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_ENTRIES_PER_POST = 10_000;
export const MAX_ATTRIBUTE_KEYS = 64;
export const MAX_ATTRIBUTES_BYTES = 16 * 1024;
export const MAX_PAGE = 10_000;
export const DEFAULT_PAGE = 100;

/** Case-insensitive; WARN is WARNING. Output: the upper-case name. */
export const SeveritySchema = v.pipe(
  v.string("severity must be a string"),
  v.toUpperCase(),
  v.transform((name) => (name === "WARN" ? "WARNING" : name)),
  v.picklist(SEVERITIES, "severity must be one of DEBUG, INFO, WARNING (WARN), ERROR, CRITICAL"),
);

/** ISO 8601 with any offset (none means UTC). Output: microseconds since the epoch, UTC. */
export const TimestampSchema = v.pipe(
  v.string("must be an ISO 8601 date-time string"),
  v.maxLength(64, "is too long for an ISO 8601 date-time"),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const micros = parseIsoMicros(dataset.value);
    if (micros === null) {
      addIssue({ message: `"${dataset.value}" is not an ISO 8601 date-time (2025-08-27T10:00:00Z)` });
      return NEVER;
    }
    return micros;
  }),
);

// Printable text: no control characters (Unicode's Cc), which would only corrupt terminals and log views.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const printable = (min: number, max: number, message: string) =>
  v.check((text: string) => text.length >= min && text.length <= max && !CONTROL.test(text), message);
export const ServiceSchema = v.pipe(
  v.string("service must be a string"),
  printable(1, 128, "service must be 1-128 characters without control characters"),
);

const AttributesSchema = v.pipe(
  // v.record alone would take an array.
  v.custom<Record<string, unknown>>(
    (value) => typeof value === "object" && value !== null && !Array.isArray(value),
    "attributes must be an object",
  ),
  v.record(
    v.pipe(v.string(), v.maxLength(128, "attribute names may be at most 128 characters")),
    v.unknown(),
  ),
  v.maxEntries(MAX_ATTRIBUTE_KEYS, `attributes may have at most ${MAX_ATTRIBUTE_KEYS} keys`),
  v.check(
    (value) => JSON.stringify(value).length <= MAX_ATTRIBUTES_BYTES,
    `attributes may take at most ${MAX_ATTRIBUTES_BYTES} bytes as JSON`,
  ),
);

/** One entry as a client sends it; `service` may be left out when the token names it. */
export const LogEntrySchema = v.strictObject(
  {
    timestamp: TimestampSchema,
    service: v.optional(ServiceSchema),
    severity: SeveritySchema,
    message: v.pipe(
      v.string("message must be a string"),
      // UTF-8 takes at most 3 bytes per UTF-16 unit: most messages need no counting at all.
      v.check(
        (text) => text.length * 3 <= MAX_MESSAGE_BYTES || Buffer.byteLength(text) <= MAX_MESSAGE_BYTES,
        `message may take at most ${MAX_MESSAGE_BYTES} bytes`,
      ),
    ),
    host: v.optional(
      v.nullable(
        v.pipe(
          v.string("host must be a string"),
          printable(0, 255, "host must be at most 255 characters without control characters"),
        ),
      ),
    ),
    attributes: v.optional(v.nullable(AttributesSchema)),
    entry_id: v.optional(
      v.pipe(
        v.string(),
        v.regex(/^[A-Za-z0-9._:-]{1,128}$/, "entry_id must be 1-128 of A-Z a-z 0-9 . _ : -"),
      ),
    ),
  },
  "is not a field of a log entry",
);
export type LogEntryInput = v.InferInput<typeof LogEntrySchema>;
export type LogEntry = v.InferOutput<typeof LogEntrySchema>;

export const LogPostAnswerSchema = v.object({
  ok: v.literal(true),
  accepted: v.number(),
  /** Entries whose entry_id was already stored: accepted, not stored twice. */
  duplicates: v.number(),
});
export type LogPostAnswer = v.InferOutput<typeof LogPostAnswerSchema>;

/** One stored entry as GET /logs returns it. */
export const LogRecordSchema = v.object({
  id: v.number(),
  timestamp: v.string(),
  received_at: v.string(),
  service: v.string(),
  severity: v.picklist(SEVERITIES),
  message: v.string(),
  host: v.nullable(v.string()),
  attributes: v.nullable(v.record(v.string(), v.unknown())),
  entry_id: v.nullable(v.string()),
});
export type LogRecord = v.InferOutput<typeof LogRecordSchema>;

export const LogPageSchema = v.object({
  count: v.number(),
  total: v.optional(v.number()),
  logs: v.array(LogRecordSchema),
  /** Pass back as `cursor` for the next page; null when this was the last one. */
  next: v.nullable(v.string()),
});
export type LogPage = v.InferOutput<typeof LogPageSchema>;

const whole = (name: string, min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d{1,10}$/, `${name} must be a whole number`),
    v.transform(Number),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

const SeverityListSchema = v.pipe(
  v.string(),
  v.transform((list) => list.split(",").map((name) => name.trim())),
  v.array(SeveritySchema),
  v.minLength(1),
);

/** GET /logs query parameters (all strings on the wire). Unknown parameters are refused, so typos show. */
export const LogQuerySchema = v.strictObject(
  {
    timestamp_start: v.optional(TimestampSchema),
    timestamp_end: v.optional(TimestampSchema),
    received_at_start: v.optional(TimestampSchema),
    received_at_end: v.optional(TimestampSchema),
    service: v.optional(ServiceSchema),
    severity: v.optional(SeverityListSchema),
    min_severity: v.optional(SeveritySchema),
    q: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(1024, "q may be at most 1024 characters"))),
    limit: v.optional(whole("limit", 1, MAX_PAGE), String(DEFAULT_PAGE)),
    offset: v.optional(whole("offset", 0, 1_000_000_000), "0"),
    order: v.optional(v.picklist(["asc", "desc"], "order must be asc or desc"), "desc"),
    total: v.optional(
      v.pipe(
        v.picklist(["true", "false", "1", "0"], "total must be true or false"),
        v.transform((flag) => flag === "true" || flag === "1"),
      ),
      "false",
    ),
    cursor: v.optional(v.pipe(v.string(), v.maxLength(512))),
  },
  "is not a parameter of GET /logs",
);
export type LogQuery = v.InferOutput<typeof LogQuerySchema>;
