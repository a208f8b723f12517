// `relevo-server archive run|status|verify|restore --database URL`: the same commands over PostgreSQL's
// manifest and day partitions. `run` needs no directory lock: the archiver's advisory lock lets one server
// (or this command) archive at a time.
import type { SQL } from "bun";
import { lastArchivableDate, type RunResult } from "../archive/archiver.ts";
import { openBucket } from "../archive/bucket.ts";
import { verifyArchive } from "../archive/restore.ts";
import type { ArchiveSettings } from "../archive/settings.ts";
import type { DayZone } from "../day.ts";

export async function pgArchiveRun(
  sql: SQL,
  settings: ArchiveSettings,
  zone: DayZone,
  dryRun: boolean,
): Promise<RunResult> {
  const { openPgArchive } = await import("../pg/archive.ts");
  const { PgReportStore } = await import("../pg/report-store.ts");
  const reports = new PgReportStore(sql, { dayZone: zone });
  const { archiver } = await openPgArchive(settings, sql, reports, zone, () => new Date());
  return archiver.run({ dryRun });
}

export async function pgArchiveStatus(sql: SQL, zone: DayZone, afterDays: number) {
  const { PgManifest } = await import("../pg/archive-manifest.ts");
  const manifest = new PgManifest(sql);
  await manifest.refresh();
  const last = lastArchivableDate(new Date(), zone, afterDays);
  const restored = await manifest.restoredDates();
  const days = (await sql`SELECT DISTINCT day::text AS day FROM report_days WHERE day <= ${last}::date
    ORDER BY day`) as { day: string }[];
  const pending = days.map((row) => row.day).filter((day) => !restored.has(day));
  const failed = await manifest.list("failed");
  const run = manifest.cached.lastRun();
  return {
    last,
    answer: {
      pending: pending.length,
      archived: manifest.cached.counts().archived,
      archived_kept_locally: 0,
      failed: failed.map((row) => ({
        name: row.name,
        error: row.error,
        attempts: row.attempts,
        retry_at: row.retry_at ? new Date(row.retry_at).toISOString() : null,
      })),
      last_run: run
        ? {
            ...run,
            started_at: new Date(run.started_at).toISOString(),
            finished_at: run.finished_at ? new Date(run.finished_at).toISOString() : null,
          }
        : null,
      pending_days: pending,
    },
  };
}

export async function pgArchiveVerify(sql: SQL, settings: ArchiveSettings, sample: number | null) {
  const { PgManifest } = await import("../pg/archive-manifest.ts");
  return verifyArchive(openBucket(settings), new PgManifest(sql), sample, () => Date.now());
}

export async function pgArchiveRestore(sql: SQL, settings: ArchiveSettings, name: string) {
  const { PgManifest } = await import("../pg/archive-manifest.ts");
  const { restorePgDay } = await import("../pg/archive.ts");
  return restorePgDay(sql, openBucket(settings), new PgManifest(sql), name);
}
