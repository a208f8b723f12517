// The archive over PostgreSQL: a day partition old enough and closed is exported per host in the day-file
// layout (exportDay, so each object is byte for byte what the file store would archive), each file packed,
// uploaded and verified as a day file is; only when every host's file of the day is verified do the
// manifest rows, the partition's detach and drop and the day rows' removal commit, in one transaction. A
// crash or failure anywhere before that commit leaves the partition. One archiver at a time across the
// servers on the database: a session advisory lock taken with pg_try_advisory_lock.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SQL } from "bun";
import { logger } from "../../shared/log.ts";
import { lastArchivableDate, type RunOptions, type RunResult } from "../archive/archiver.ts";
import { type Bucket, describeFailure, objectKey } from "../archive/bucket.ts";
import { verifyObject } from "../archive/fetch-object.ts";
import type { ArchivedFile } from "../archive/manifest.ts";
import { packAndUpload } from "../archive/pack.ts";
import type { DayZone } from "../day.ts";
import { dayFileName } from "../store/day-file.ts";
import type { PgManifest } from "./archive-manifest.ts";
import { PARTITION_LOCK_KEY, partitionName } from "./partitions.ts";
import { exportDay } from "./transfer.ts";

const archiveLog = logger("archive");
/** "archiver" in ASCII: held by the one server archiving now. */
export const ARCHIVER_LOCK_KEY = 0x617263686976;
const PARTITION = /^reports_(\d{4})(\d{2})(\d{2})$/;

export interface PgArchiverDeps {
  sql: SQL;
  bucket: Bucket;
  manifest: PgManifest;
  zone: DayZone;
  clock: () => Date;
  /** Told when the day's partition is gone (the report store's cache of partitions). */
  onDropped?: (day: string) => void;
  partBytes?: number;
}

/** A run that found another server archiving: nothing done. */
export const ARCHIVER_BUSY = "another server is archiving this database now";

export class PgArchiver {
  private running: Promise<RunResult> | null = null;
  private stopping = false;
  /** Days due at the last look (for the backlog gauge, which must answer at once). */
  private backlog: string[] = [];

  constructor(private readonly deps: PgArchiverDeps) {}

  get busy(): boolean {
    return this.running !== null;
  }

  stop(): void {
    this.stopping = true;
  }

  /** The days due at the last run (synchronous, for /metrics). */
  candidates(_respectBackoff: boolean): string[] {
    return this.backlog;
  }

  /** Days with a partition that are due now, oldest first. */
  async dueDays(respectBackoff: boolean): Promise<string[]> {
    const { sql, zone, clock, bucket, manifest } = this.deps;
    const now = clock();
    const last = lastArchivableDate(now, zone, bucket.settings.afterDays);
    const rows = await sql`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'reports'::regclass`;
    const restored = await manifest.restoredDates();
    const days: string[] = [];
    for (const row of rows as { name: string }[]) {
      const m = PARTITION.exec(row.name);
      if (!m) continue;
      const day = `${m[1]}-${m[2]}-${m[3]}`;
      if (day > last || restored.has(day)) continue;
      if (respectBackoff && (await manifest.retryAt(day)) > now.getTime()) continue;
      days.push(day);
    }
    days.sort();
    this.backlog = days;
    return days;
  }

  run(options: RunOptions = {}): Promise<RunResult> {
    this.running ??= this.runOnce(options).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runOnce(options: RunOptions): Promise<RunResult> {
    const { sql, manifest } = this.deps;
    const conn = await sql.reserve();
    try {
      const [lock] = await conn`SELECT pg_try_advisory_lock(${ARCHIVER_LOCK_KEY}) AS ok`;
      if (!lock?.ok) return { chosen: [], archived: [], failed: [], stopped: ARCHIVER_BUSY };
      try {
        return await this.underLock(options);
      } finally {
        // A connection lost meanwhile took the session's lock with it.
        await conn`SELECT pg_advisory_unlock(${ARCHIVER_LOCK_KEY})`.catch(() => {});
        await manifest.refresh().catch(() => {});
      }
    } finally {
      conn.release();
    }
  }

  private async underLock(options: RunOptions): Promise<RunResult> {
    const { manifest, clock } = this.deps;
    const days = await this.dueDays(options.respectBackoff ?? false);
    const result: RunResult = { chosen: [...days], archived: [], failed: [] };
    if (options.dryRun) return result;
    const runId = await manifest.startRun(clock().getTime());
    try {
      for (const day of days) {
        if (this.stopping) break;
        const began = performance.now();
        const outcome = await this.archiveDay(day, options.onStep);
        // /health answers from the cache: kept current day by day, not only at the end of a long run.
        await manifest.refresh().catch(() => {});
        const duty = options.duty ?? 1;
        if (duty < 1) await Bun.sleep(((performance.now() - began) * (1 - duty)) / duty);
        result.archived.push(...outcome.archived);
        if (!outcome.error) continue;
        result.failed.push(...outcome.files.map((name) => ({ name, error: outcome.error as string })));
        if (outcome.fatal) {
          result.stopped = outcome.error;
          archiveLog.error(`archive run stopped, day ${day} kept in the database: ${outcome.error}`);
          break;
        }
        archiveLog.error(`day ${day} kept in the database: ${outcome.error}`);
      }
    } finally {
      await manifest.finishRun(
        runId,
        { archived: result.archived.length, failed: result.failed.length, error: result.stopped },
        clock().getTime(),
      );
    }
    if (result.archived.length) {
      archiveLog.info(`archived ${result.archived.length} day file(s) to ${this.deps.bucket.where}`);
    }
    this.backlog = this.backlog.filter(
      (day) => !result.archived.some((name) => name.endsWith(`_${day}.json`)),
    );
    return result;
  }

  /** One day: every host's file uploaded and verified, then recorded and dropped together. */
  private async archiveDay(
    day: string,
    onStep: RunOptions["onStep"],
  ): Promise<{ archived: string[]; files: string[]; error?: string; fatal?: boolean }> {
    const { sql, bucket, manifest, clock } = this.deps;
    const dir = mkdtempSync(join(tmpdir(), "relevo-pg-archive-"));
    let hosts: { ip: string; reports: number }[] = [];
    try {
      hosts = (await sql`SELECT source_ip AS ip, reports FROM report_days WHERE day = ${day}::date
        ORDER BY source_ip`) as { ip: string; reports: number }[];
      await exportDay(sql, day, dir);
      const files: ArchivedFile[] = [];
      for (const host of hosts) {
        const name = dayFileName(host.ip, day);
        const key = objectKey(bucket.settings.prefix, name, day);
        const packed = await packAndUpload(bucket, join(dir, name), key, this.deps.partBytes);
        onStep?.(name, "uploaded");
        await verifyObject(bucket, {
          key,
          bytes: packed.bytes,
          sha256: packed.sha256,
          gzBytes: packed.gzBytes,
          gzMd5: packed.multipart ? undefined : packed.gzMd5,
        });
        onStep?.(name, "verified");
        files.push({ name, ip: host.ip, date: day, key, ...packed });
      }
      await this.commitDay(day, files, hosts);
      for (const file of files) onStep?.(file.name, "recorded");
      for (const file of files) onStep?.(file.name, "removed");
      this.deps.onDropped?.(day);
      return { archived: files.map((file) => file.name), files: [] };
    } catch (error) {
      const failure = describeFailure(error, bucket, `archiving day ${day}`);
      const names = hosts.map((host) => dayFileName(host.ip, day));
      const now = clock().getTime();
      for (const host of hosts) {
        await manifest
          .recordFailure({ name: dayFileName(host.ip, day), ip: host.ip, date: day }, failure.message, now)
          .catch(() => {});
      }
      return { archived: [], files: names, error: failure.message, fatal: failure.fatal };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The manifest rows, the partition's detach and drop, the day rows: all or nothing. */
  private async commitDay(
    day: string,
    files: ArchivedFile[],
    hosts: { ip: string; reports: number }[],
  ): Promise<void> {
    const { sql, manifest, clock } = this.deps;
    const name = partitionName(day); // from a checked YYYY-MM-DD, never from a request
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK_KEY})`;
      // The lock DETACH takes anyway, taken first and parent first, as every query takes its locks (taking
      // the partition's first could deadlock with a reader). No insert into the day from here on; one that
      // got in before has committed and is seen below. Held for a few statements only.
      await tx`LOCK TABLE reports IN ACCESS EXCLUSIVE MODE`;
      // A report stored for the day since the export would be lost with the partition: try again later.
      const now = (await tx`SELECT source_ip AS ip, reports FROM report_days WHERE day = ${day}::date
        ORDER BY source_ip`) as { ip: string; reports: number }[];
      const same =
        now.length === hosts.length &&
        now.every((row, i) => row.ip === hosts[i]?.ip && Number(row.reports) === Number(hosts[i]?.reports));
      if (!same) throw new Error(`day ${day} changed while it was being archived`);
      const at = clock().getTime();
      for (const file of files) await manifest.recordArchived(tx, file, at);
      await tx.unsafe(`ALTER TABLE reports DETACH PARTITION ${name}`);
      await tx.unsafe(`DROP TABLE ${name}`);
      await tx`DELETE FROM report_days WHERE day = ${day}::date`;
    });
  }
}
