// The archive's parts over PostgreSQL: the bucket, the manifest tables, the day-partition archiver and the
// view of the report store that reads archived days back (the same view as over the file store).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SQL } from "bun";
import { ArchiveError, type Bucket, openBucket } from "../archive/bucket.ts";
import type { ArchivedRow } from "../archive/manifest.ts";
import { restoreDay } from "../archive/restore.ts";
import type { ArchiveSettings } from "../archive/settings.ts";
import { ArchivedView } from "../archive/view.ts";
import type { DayZone } from "../day.ts";
import type { Store } from "../store/types.ts";
import { PgManifest } from "./archive-manifest.ts";
import { PgArchiver } from "./day-archiver.ts";
import type { PgReportStore } from "./report-store.ts";
import { importDir } from "./transfer.ts";

export interface OpenPgArchive {
  bucket: Bucket;
  manifest: PgManifest;
  archiver: PgArchiver;
  view: Store;
}

export async function openPgArchive(
  settings: ArchiveSettings,
  sql: SQL,
  reports: PgReportStore,
  zone: DayZone,
  clock: () => Date,
): Promise<OpenPgArchive> {
  const bucket = openBucket(settings);
  const manifest = new PgManifest(sql);
  await manifest.refresh();
  const archiver = new PgArchiver({
    sql,
    bucket,
    manifest,
    zone,
    clock,
    onDropped: (day) => reports.partitions.forget(day),
  });
  return { bucket, manifest, archiver, view: new ArchivedView(reports, manifest, bucket) };
}

/**
 * `archive restore` on PostgreSQL: the object is read back into a scratch directory (checked against the
 * manifest's SHA-256, as for the file store) and imported into its day partition with the import code; only
 * then is the manifest row marked restored, so an interrupted restore can simply be run again.
 */
export async function restorePgDay(
  sql: SQL,
  bucket: Bucket,
  manifest: PgManifest,
  name: string,
): Promise<{ row: ArchivedRow; stored: number }> {
  const current = await manifest.get(name);
  if (current?.state === "restored") throw new ArchiveError(`${name} is restored already`, false);
  const dir = mkdtempSync(join(tmpdir(), "relevo-pg-restore-"));
  try {
    const scratch = {
      get: () => current,
      list: () => [],
      markVerified: () => {},
      markRestored: () => {},
    };
    const row = await restoreDay({ directory: dir, addDay: () => {} }, bucket, scratch, name);
    const result = await importDir(sql, dir);
    if (result.skipped) {
      throw new ArchiveError(
        `${name}: ${result.skipped} line(s) of the object are not day-file elements`,
        false,
      );
    }
    await manifest.markRestored(name);
    return { row, stored: result.stored };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
