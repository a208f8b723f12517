// The archive manifest in relevo.db (tables archive_files and archive_runs): which day files are in the
// bucket, verified, with both hashes; which failed, why, and when to try again.
import type { Database } from "bun:sqlite";

export interface ArchivedRow {
  name: string;
  ip: string;
  date: string;
  state: "archived" | "failed" | "restored";
  object_key: string | null;
  bytes: number | null;
  reports: number | null;
  sha256: string | null;
  gz_bytes: number | null;
  gz_md5: string | null;
  archived_at: number | null;
  verified_at: number | null;
  attempts: number;
  error: string | null;
  failed_at: number | null;
  retry_at: number | null;
}

export interface RunRow {
  id: number;
  started_at: number;
  finished_at: number | null;
  archived: number;
  failed: number;
  error: string | null;
}

export interface ArchivedFile {
  name: string;
  ip: string;
  date: string;
  key: string;
  bytes: number;
  reports: number;
  sha256: string;
  gzBytes: number;
  gzMd5: string;
}

/** Retry a failed file after 10 min, doubling per attempt up to a day. */
export function retryDelayMs(attempts: number): number {
  return Math.min(10 * 60_000 * 2 ** Math.max(0, attempts - 1), 24 * 3600_000);
}

export class Manifest {
  constructor(private readonly db: Database) {}

  get(name: string): ArchivedRow | null {
    return (
      (this.db.query("SELECT * FROM archive_files WHERE name = ?").get(name) as ArchivedRow | null) ?? null
    );
  }

  /** Rows of one state, by name; optionally of one ip and/or date. */
  list(state: ArchivedRow["state"], filter: { ip?: string; date?: string } = {}): ArchivedRow[] {
    return this.db
      .query(
        "SELECT * FROM archive_files WHERE state = ?1 AND (?2 IS NULL OR ip = ?2) AND (?3 IS NULL OR date = ?3) ORDER BY name",
      )
      .all(state, filter.ip ?? null, filter.date ?? null) as ArchivedRow[];
  }

  newestArchivedDate(ip: string): string | null {
    const row = this.db
      .query("SELECT max(date) AS date FROM archive_files WHERE ip = ? AND state = 'archived'")
      .get(ip) as { date: string | null } | null;
    return row?.date ?? null;
  }

  counts(): Record<ArchivedRow["state"], number> {
    const out = { archived: 0, failed: 0, restored: 0 };
    for (const row of this.db
      .query("SELECT state, count(*) AS n FROM archive_files GROUP BY state")
      .all() as {
      state: ArchivedRow["state"];
      n: number;
    }[])
      out[row.state] = row.n;
    return out;
  }

  /** Recorded only after the object was verified: from here on the local file may be removed. */
  recordArchived(file: ArchivedFile, now: number): void {
    this.db
      .query(
        `INSERT INTO archive_files (name, ip, date, state, object_key, bytes, reports, sha256, gz_bytes, gz_md5,
           archived_at, verified_at, attempts, error, failed_at, retry_at)
         VALUES (?1, ?2, ?3, 'archived', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, 0, NULL, NULL, NULL)
         ON CONFLICT (name) DO UPDATE SET state = 'archived', object_key = ?4, bytes = ?5, reports = ?6,
           sha256 = ?7, gz_bytes = ?8, gz_md5 = ?9, archived_at = ?10, verified_at = ?10, attempts = 0,
           error = NULL, failed_at = NULL, retry_at = NULL`,
      )
      .run(
        file.name,
        file.ip,
        file.date,
        file.key,
        file.bytes,
        file.reports,
        file.sha256,
        file.gzBytes,
        file.gzMd5,
        now,
      );
  }

  /** A failed try: the local file stays; retried after a backoff that grows with the attempts. */
  recordFailure(file: { name: string; ip: string; date: string }, error: string, now: number): ArchivedRow {
    const attempts = (this.get(file.name)?.attempts ?? 0) + 1;
    const retryAt = now + retryDelayMs(attempts);
    this.db
      .query(
        `INSERT INTO archive_files (name, ip, date, state, attempts, error, failed_at, retry_at)
         VALUES (?1, ?2, ?3, 'failed', ?4, ?5, ?6, ?7)
         ON CONFLICT (name) DO UPDATE SET state = 'failed', attempts = ?4, error = ?5, failed_at = ?6, retry_at = ?7`,
      )
      .run(file.name, file.ip, file.date, attempts, error, now, retryAt);
    return this.get(file.name) as ArchivedRow;
  }

  markVerified(name: string, now: number): void {
    this.db.query("UPDATE archive_files SET verified_at = ? WHERE name = ?").run(now, name);
  }

  /** Brought back to the data directory: kept local from now on (the object stays in the bucket). */
  markRestored(name: string): void {
    this.db.query("UPDATE archive_files SET state = 'restored' WHERE name = ?").run(name);
  }

  startRun(now: number): number {
    const row = this.db.query("INSERT INTO archive_runs (started_at) VALUES (?) RETURNING id").get(now) as {
      id: number;
    };
    return row.id;
  }

  finishRun(id: number, result: { archived: number; failed: number; error?: string }, now: number): void {
    this.db
      .query("UPDATE archive_runs SET finished_at = ?, archived = ?, failed = ?, error = ? WHERE id = ?")
      .run(now, result.archived, result.failed, result.error ?? null, id);
  }

  lastRun(): RunRow | null {
    return (
      (this.db.query("SELECT * FROM archive_runs ORDER BY id DESC LIMIT 1").get() as RunRow | null) ?? null
    );
  }

  /** Runs finished since the last one without failures (for the schedule's backoff). */
  failedRunsInARow(): number {
    const rows = this.db
      .query("SELECT failed, error FROM archive_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 20")
      .all() as { failed: number; error: string | null }[];
    let n = 0;
    for (const row of rows) {
      if (row.failed === 0 && !row.error) break;
      n++;
    }
    return n;
  }
}
