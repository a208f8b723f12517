// The log archive (--archive-logs): each whole UTC day of central logs past --logs-retention-days (by
// receive time) is written as NDJSON (GET /logs' entry shape, by id) to a temporary file in the data
// directory, uploaded and verified like a day file, and recorded in archive_log_days. Retention holds every
// entry from the oldest day not yet recorded on, so a failing archive keeps the logs instead of losing them.
import type { Database } from "bun:sqlite";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { logger } from "../../shared/log.ts";
import { type Row, recordOf } from "../logs/log-store.ts";
import { type ArchiveError, type Bucket, describeFailure } from "./bucket.ts";
import { verifyObject } from "./fetch-object.ts";
import { retryDelayMs } from "./manifest.ts";
import { packAndUpload } from "./pack.ts";

const archiveLog = logger("archive");
const DAY_MICROS = 86_400_000_000;
/** NDJSON goes to the file in pieces of about this size. */
const FLUSH_BYTES = 1024 * 1024;

export interface LogDayRow {
  date: string;
  state: "archived" | "failed";
  object_key: string | null;
  entries: number | null;
  sha256: string | null;
  gz_bytes: number | null;
  archived_at: number | null;
  attempts: number;
  error: string | null;
  retry_at: number | null;
}

export interface LogRunResult {
  /** Days this run chose (for a dry run: what would be archived), YYYY-MM-DD. */
  chosen: string[];
  archived: string[];
  failed: { date: string; error: string }[];
  stopped?: string;
}

/** prefix/logs/YYYY/MM/DD/logs_<date>.ndjson.gz */
export function logObjectKey(prefix: string, date: string): string {
  const [year, month, day] = date.split("-");
  const key = `logs/${year}/${month}/${day}/logs_${date}.ndjson.gz`;
  return prefix ? `${prefix}/${key}` : key;
}

function dayOfMicros(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);
}

function startMicros(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) * 1000;
}

/** The rows of archive_log_days (also read by `archive status` without a bucket). */
export class LogDayRows {
  constructor(private readonly db: Database) {}

  get(date: string): LogDayRow | null {
    return (
      (this.db.query("SELECT * FROM archive_log_days WHERE date = ?").get(date) as LogDayRow | null) ?? null
    );
  }

  list(state: LogDayRow["state"]): LogDayRow[] {
    return this.db
      .query("SELECT * FROM archive_log_days WHERE state = ? ORDER BY date")
      .all(state) as LogDayRow[];
  }

  counts(): { archived: number; failed: number } {
    const out = { archived: 0, failed: 0 };
    for (const row of this.db
      .query("SELECT state, count(*) AS n FROM archive_log_days GROUP BY state")
      .all() as { state: LogDayRow["state"]; n: number }[])
      out[row.state] = row.n;
    return out;
  }

  recordArchived(
    day: { date: string; key: string; entries: number; sha256: string; gzBytes: number },
    now: number,
  ): void {
    this.db
      .query(
        `INSERT INTO archive_log_days (date, state, object_key, entries, sha256, gz_bytes, archived_at, attempts, error, retry_at)
         VALUES (?1, 'archived', ?2, ?3, ?4, ?5, ?6, 0, NULL, NULL)
         ON CONFLICT (date) DO UPDATE SET state = 'archived', object_key = ?2, entries = ?3, sha256 = ?4,
           gz_bytes = ?5, archived_at = ?6, attempts = 0, error = NULL, retry_at = NULL`,
      )
      .run(day.date, day.key, day.entries, day.sha256, day.gzBytes, now);
  }

  recordFailure(date: string, error: string, now: number): LogDayRow {
    const attempts = (this.get(date)?.attempts ?? 0) + 1;
    this.db
      .query(
        `INSERT INTO archive_log_days (date, state, attempts, error, retry_at) VALUES (?1, 'failed', ?2, ?3, ?4)
         ON CONFLICT (date) DO UPDATE SET state = 'failed', attempts = ?2, error = ?3, retry_at = ?4`,
      )
      .run(date, attempts, error, now + retryDelayMs(attempts));
    return this.get(date) as LogDayRow;
  }
}

export interface LogDayDeps {
  db: Database;
  bucket: Bucket;
  /** The data directory: the NDJSON is written there before it is uploaded. */
  directory: string;
  retentionDays: number;
  clock: () => Date;
}

export class LogDayArchiver {
  readonly rows: LogDayRows;

  constructor(private readonly deps: LogDayDeps) {
    this.rows = new LogDayRows(deps.db);
  }

  #oldestFrom(micros: number): number | null {
    const row = this.deps.db.query("SELECT min(received) AS r FROM logs WHERE received >= ?").get(micros) as {
      r: number | null;
    };
    return row.r;
  }

  #archived(date: string): boolean {
    return this.rows.get(date)?.state === "archived";
  }

  /**
   * For retention: the start of the oldest day with entries that is not recorded as archived (due or not
   * yet), in microseconds; null when every day with entries is archived.
   */
  holdMicros(): number | null {
    for (let at = this.#oldestFrom(0); at !== null; ) {
      const date = dayOfMicros(at);
      const start = startMicros(date);
      if (!this.#archived(date)) return start;
      at = this.#oldestFrom(start + DAY_MICROS);
    }
    return null;
  }

  /** Whole UTC days with entries, all past retention, not archived; failed ones after their retry time. */
  dueDays(respectBackoff: boolean): string[] {
    const now = this.deps.clock().getTime();
    const cutoff = (now - this.deps.retentionDays * 86_400_000) * 1000;
    const out: string[] = [];
    for (let at = this.#oldestFrom(0); at !== null; ) {
      const date = dayOfMicros(at);
      const end = startMicros(date) + DAY_MICROS;
      if (end > cutoff) break;
      const row = this.rows.get(date);
      if (!row || (row.state === "failed" && (!respectBackoff || (row.retry_at ?? 0) <= now))) {
        out.push(date);
      }
      at = this.#oldestFrom(end);
    }
    return out;
  }

  async run(options: { dryRun?: boolean; respectBackoff?: boolean } = {}): Promise<LogRunResult> {
    const chosen = this.deps.retentionDays > 0 ? this.dueDays(options.respectBackoff ?? false) : [];
    const result: LogRunResult = { chosen, archived: [], failed: [] };
    if (options.dryRun) return result;
    const { clock } = this.deps;
    for (const date of chosen) {
      const error = await this.#archiveOne(date);
      if (!error) {
        result.archived.push(date);
        continue;
      }
      result.failed.push({ date, error: error.message });
      const row = this.rows.recordFailure(date, error.message, clock().getTime());
      const retry = new Date(row.retry_at ?? 0).toISOString();
      archiveLog.error(`logs of ${date} kept (retention waits): ${error.message}; retried after ${retry}`);
      if (error.fatal) {
        result.stopped = error.message;
        break;
      }
    }
    if (result.archived.length) {
      archiveLog.info(`archived the logs of ${result.archived.length} day(s) to ${this.deps.bucket.where}`);
    }
    return result;
  }

  /** Writes the day's NDJSON, uploads and verifies it, then records it; the temporary file always goes. */
  async #archiveOne(date: string): Promise<ArchiveError | null> {
    const { bucket, directory, clock } = this.deps;
    const key = logObjectKey(bucket.settings.prefix, date);
    const path = join(directory, `.archive-logs-${date}.ndjson`);
    try {
      const entries = this.#writeDay(date, path);
      const packed = await packAndUpload(bucket, path, key);
      await verifyObject(bucket, {
        key,
        bytes: packed.bytes,
        sha256: packed.sha256,
        gzBytes: packed.gzBytes,
        gzMd5: packed.multipart ? undefined : packed.gzMd5,
      });
      this.rows.recordArchived(
        { date, key, entries, sha256: packed.sha256, gzBytes: packed.gzBytes },
        clock().getTime(),
      );
      return null;
    } catch (error) {
      return describeFailure(error, bucket, `archiving the logs of ${date}`);
    } finally {
      rmSync(path, { force: true });
    }
  }

  #writeDay(date: string, path: string): number {
    const start = startMicros(date);
    const fd = openSync(path, "w", 0o600);
    let entries = 0;
    try {
      let lines: string[] = [];
      let size = 0;
      const query = this.deps.db.query("SELECT * FROM logs WHERE received >= ? AND received < ? ORDER BY id");
      for (const row of query.iterate(start, start + DAY_MICROS) as IterableIterator<Row>) {
        const line = JSON.stringify(recordOf(row));
        lines.push(line);
        size += line.length;
        entries++;
        if (size >= FLUSH_BYTES) {
          writeSync(fd, `${lines.join("\n")}\n`);
          lines = [];
          size = 0;
        }
      }
      if (lines.length) writeSync(fd, `${lines.join("\n")}\n`);
    } finally {
      closeSync(fd);
    }
    return entries;
  }
}
