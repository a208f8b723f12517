// The archive manifest on PostgreSQL (tables archive_files and archive_runs, as relevo.db's), shared by every
// server on the database. Reads are async; the schedule's health needs a synchronous answer, so `cached`
// holds the counts and the last run as of the last refresh() (after each run and at start).
import type { SQL } from "bun";
import type { ArchivedFile, ArchivedRow, RunRow } from "../archive/manifest.ts";
import { retryDelayMs } from "../archive/manifest.ts";

type State = ArchivedRow["state"];

const NUMERIC: (keyof ArchivedRow)[] = [
  "bytes",
  "reports",
  "gz_bytes",
  "archived_at",
  "verified_at",
  "attempts",
  "failed_at",
  "retry_at",
];

/** bigint columns come back as strings: numbers, as the SQLite manifest gives them. */
function toRow(raw: Record<string, unknown>): ArchivedRow {
  const row = { ...raw } as Record<string, unknown>;
  for (const key of NUMERIC) if (row[key] !== null && row[key] !== undefined) row[key] = Number(row[key]);
  return row as unknown as ArchivedRow;
}

function toRun(raw: Record<string, unknown>): RunRow {
  return {
    id: Number(raw.id),
    started_at: Number(raw.started_at),
    finished_at: raw.finished_at === null ? null : Number(raw.finished_at),
    archived: Number(raw.archived),
    failed: Number(raw.failed),
    error: (raw.error as string | null) ?? null,
  };
}

/** What the schedule reads, synchronously, as of the last refresh(). */
export class CachedManifest {
  counts_: Record<State, number> = { archived: 0, failed: 0, restored: 0 };
  lastRun_: RunRow | null = null;
  failedInARow = 0;
  lastFailure: ArchivedRow | null = null;

  counts(): Record<State, number> {
    return this.counts_;
  }
  lastRun(): RunRow | null {
    return this.lastRun_;
  }
  failedRunsInARow(): number {
    return this.failedInARow;
  }
  list(state: State): ArchivedRow[] {
    return state === "failed" && this.lastFailure ? [this.lastFailure] : [];
  }
}

export class PgManifest {
  readonly cached = new CachedManifest();

  constructor(private readonly sql: SQL) {}

  async get(name: string): Promise<ArchivedRow | null> {
    const [row] = await this.sql`SELECT * FROM archive_files WHERE name = ${name}`;
    return row ? toRow(row) : null;
  }

  async list(state: State, filter: { ip?: string; date?: string } = {}): Promise<ArchivedRow[]> {
    const ip = filter.ip ?? null;
    const date = filter.date ?? null;
    const rows = await this.sql`SELECT * FROM archive_files WHERE state = ${state}
      AND (${ip}::text IS NULL OR ip = ${ip}) AND (${date}::text IS NULL OR date = ${date}) ORDER BY name`;
    return (rows as Record<string, unknown>[]).map(toRow);
  }

  async newestArchivedDate(ip: string): Promise<string | null> {
    const [row] = await this
      .sql`SELECT max(date) AS date FROM archive_files WHERE ip = ${ip} AND state = 'archived'`;
    return (row?.date as string | null) ?? null;
  }

  /** Inside the transaction that drops the day's partition: the rows and the drop commit together. */
  async recordArchived(tx: SQL, file: ArchivedFile, now: number): Promise<void> {
    await tx`INSERT INTO archive_files (name, ip, date, state, object_key, bytes, reports, sha256, gz_bytes,
        gz_md5, archived_at, verified_at, attempts, error, failed_at, retry_at)
      VALUES (${file.name}, ${file.ip}, ${file.date}, 'archived', ${file.key}, ${file.bytes}, ${file.reports},
        ${file.sha256}, ${file.gzBytes}, ${file.gzMd5}, ${now}, ${now}, 0, NULL, NULL, NULL)
      ON CONFLICT (name) DO UPDATE SET state = 'archived', object_key = EXCLUDED.object_key,
        bytes = EXCLUDED.bytes, reports = EXCLUDED.reports, sha256 = EXCLUDED.sha256,
        gz_bytes = EXCLUDED.gz_bytes, gz_md5 = EXCLUDED.gz_md5, archived_at = EXCLUDED.archived_at,
        verified_at = EXCLUDED.verified_at, attempts = 0, error = NULL, failed_at = NULL, retry_at = NULL`;
  }

  /** A failed try: the partition stays; retried after a backoff that grows with the attempts. */
  async recordFailure(file: { name: string; ip: string; date: string }, error: string, now: number) {
    const attempts = ((await this.get(file.name))?.attempts ?? 0) + 1;
    const retryAt = now + retryDelayMs(attempts);
    await this.sql`INSERT INTO archive_files (name, ip, date, state, attempts, error, failed_at, retry_at)
      VALUES (${file.name}, ${file.ip}, ${file.date}, 'failed', ${attempts}, ${error}, ${now}, ${retryAt})
      ON CONFLICT (name) DO UPDATE SET state = 'failed', attempts = EXCLUDED.attempts, error = EXCLUDED.error,
        failed_at = EXCLUDED.failed_at, retry_at = EXCLUDED.retry_at`;
    return retryAt;
  }

  async markVerified(name: string, now: number): Promise<void> {
    await this.sql`UPDATE archive_files SET verified_at = ${now} WHERE name = ${name}`;
  }

  /** Imported back into its partition: kept in the database from now on (the object stays). */
  async markRestored(name: string): Promise<void> {
    await this.sql`UPDATE archive_files SET state = 'restored' WHERE name = ${name}`;
  }

  /** Days with a file restored: not archived again. */
  async restoredDates(): Promise<Set<string>> {
    const rows = await this.sql`SELECT DISTINCT date FROM archive_files WHERE state = 'restored'`;
    return new Set((rows as { date: string }[]).map((row) => row.date));
  }

  /** The latest retry time among a day's failed files (0 when none failed). */
  async retryAt(date: string): Promise<number> {
    const [row] = await this
      .sql`SELECT coalesce(max(retry_at), 0) AS at FROM archive_files WHERE date = ${date} AND state = 'failed'`;
    return Number(row?.at ?? 0);
  }

  async startRun(now: number): Promise<number> {
    const [row] = await this.sql`INSERT INTO archive_runs (started_at) VALUES (${now}) RETURNING id`;
    return Number(row.id);
  }

  async finishRun(id: number, result: { archived: number; failed: number; error?: string }, now: number) {
    await this.sql`UPDATE archive_runs SET finished_at = ${now}, archived = ${result.archived},
      failed = ${result.failed}, error = ${result.error ?? null} WHERE id = ${id}`;
  }

  /** Reloads what `cached` answers. */
  async refresh(): Promise<void> {
    const counts: Record<State, number> = { archived: 0, failed: 0, restored: 0 };
    for (const row of await this.sql`SELECT state, count(*)::int AS n FROM archive_files GROUP BY state`) {
      counts[row.state as State] = Number(row.n);
    }
    const runs = (
      (await this
        .sql`SELECT * FROM archive_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 20`) as Record<
        string,
        unknown
      >[]
    ).map(toRun);
    const [last] = await this.sql`SELECT * FROM archive_runs ORDER BY id DESC LIMIT 1`;
    const [failure] = await this
      .sql`SELECT * FROM archive_files WHERE state = 'failed' ORDER BY failed_at DESC LIMIT 1`;
    let inARow = 0;
    for (const run of runs) {
      if (run.failed === 0 && !run.error) break;
      inARow++;
    }
    Object.assign(this.cached, {
      counts_: counts,
      lastRun_: last ? toRun(last) : null,
      failedInARow: inARow,
      lastFailure: failure ? toRow(failure) : null,
    });
  }
}
