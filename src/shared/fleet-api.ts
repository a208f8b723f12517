// Wire shapes of the dashboard's reads: the paged GET /hosts and GET /api/hosts/{ip}/series. The server
// validates query parameters with these schemas; the dashboard builds its requests from the same names.
import * as v from "valibot";

export const HOST_SORT_KEYS = [
  "hostname",
  "ip",
  "os",
  "cpu",
  "memory",
  "disk",
  "users",
  "processes",
  "agent_version",
  "last_seen",
] as const;
export type HostSortKey = (typeof HOST_SORT_KEYS)[number];

export const HOST_STATES = ["active", "silent"] as const;
export const MAX_HOST_PAGE = 1000;

/** A whole number within bounds, from a query string. */
const whole = (name: string, min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d{1,10}$/, `${name} must be a whole number`),
    v.transform(Number),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

/** The paging parameters of GET /hosts: any one of them asks for the paged answer. */
export const HostQuerySchema = v.strictObject(
  {
    q: v.optional(v.pipe(v.string(), v.maxLength(256, "q may be at most 256 characters"))),
    os: v.optional(v.pipe(v.string(), v.minLength(1, "os is empty"), v.maxLength(256))),
    state: v.optional(v.picklist(HOST_STATES, `state must be ${HOST_STATES.join(" or ")}`)),
    sort: v.optional(
      v.picklist(HOST_SORT_KEYS, `sort must be one of ${HOST_SORT_KEYS.join(", ")}`),
      "hostname",
    ),
    order: v.optional(v.picklist(["asc", "desc"], "order must be asc or desc"), "asc"),
    limit: v.optional(whole("limit", 1, MAX_HOST_PAGE), "50"),
    offset: v.optional(whole("offset", 0, 1_000_000_000), "0"),
  },
  "is not a parameter of GET /hosts",
);
export type HostQuery = v.InferOutput<typeof HostQuerySchema>;

/** The latest summary of one host, as GET /hosts lists it (kept in memory by the file store). */
export interface HostSummary {
  ip: string;
  hostname: string;
  fqdn: string;
  os: { platform: string; name: string; version: string };
  cpu_load_percent: number;
  memory: { total_bytes: number; available_bytes: number };
  /** The fullest disk's used share, 0–100; null when the report listed no disk. */
  disk_used_percent: number | null;
  users: string[];
  process_count: number;
  last_seen: string;
  last_report_id: string;
  agent_version: string;
  /** The enrolled agent's id (report.agent.id), null when the report came from an agent not enrolled. */
  agent_id: string | null;
}

/** One row of the fleet table: the stored summary plus what the server derives from it. */
export type HostRow = Omit<HostSummary, "last_report_id"> & {
  /** Used memory, 0–100 (null when the total is unknown). */
  memory_used_percent: number | null;
  /** Silent: nothing received for more than three report intervals. */
  silent: boolean;
};

export interface HostPage {
  /** Rows in this page. */
  count: number;
  /** Hosts that match the filters, over all pages. */
  total: number;
  offset: number;
  limit: number;
  /** Seconds without a report after which a host counts as silent. */
  silent_after_s: number;
  /** The whole fleet, whatever the filters: the dashboard's headline numbers. */
  counts: { hosts: number; silent: number; os: { name: string; count: number }[] };
  hosts: HostRow[];
}

/** What a series can chart: each is one number per report. */
export const SERIES_FIELDS = [
  "cpu.load_percent",
  "memory.available_bytes",
  "memory.total_bytes",
  "memory.swap_used_bytes",
  "processes.total",
  "disks.max_used_percent",
  "disks.used_bytes",
  "users.count",
] as const;
export type SeriesField = (typeof SERIES_FIELDS)[number];
export const MAX_SERIES_POINTS = 10_000;

const FieldListSchema = v.pipe(
  v.string(),
  v.maxLength(1024),
  v.transform((list) => list.split(",").map((one) => one.trim())),
  v.check(
    (list) => list.length > 0 && list.every((one) => (SERIES_FIELDS as readonly string[]).includes(one)),
    `fields must be a comma-separated list of ${SERIES_FIELDS.join(", ")}`,
  ),
  v.transform((list) => [...new Set(list)] as SeriesField[]),
);

export const SeriesQuerySchema = v.strictObject(
  {
    date: v.optional(v.pipe(v.string(), v.regex(/^\d{4}-\d{2}-\d{2}$/, "date must be YYYY-MM-DD"))),
    fields: v.optional(FieldListSchema, SERIES_FIELDS.join(",")),
    max_points: v.optional(whole("max_points", 10, MAX_SERIES_POINTS), "2000"),
  },
  "is not a parameter of GET /api/hosts/{ip}/series",
);
export type SeriesQuery = v.InferOutput<typeof SeriesQuerySchema>;

export interface SeriesAnswer {
  ip: string;
  date: string;
  /** Reports read from the day; more than points when they were averaged into buckets. */
  reports: number;
  fields: SeriesField[];
  /** Epoch seconds of each point (received_at, with milliseconds as a fraction). */
  t: number[];
  /** One list per field, aligned with t; null where a report lacked the number. */
  values: Record<string, (number | null)[]>;
}
