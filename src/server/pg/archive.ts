// The archive's parts over PostgreSQL: the bucket, the manifest tables, the day-partition archiver and the
// view of the report store that reads archived days back (the same view as over the file store).
import type { SQL } from "bun";
import { type Bucket, openBucket } from "../archive/bucket.ts";
import type { ArchiveSettings } from "../archive/settings.ts";
import { ArchivedView } from "../archive/view.ts";
import type { DayZone } from "../day.ts";
import type { Store } from "../store/types.ts";
import { PgManifest } from "./archive-manifest.ts";
import { PgArchiver } from "./day-archiver.ts";
import type { PgReportStore } from "./report-store.ts";

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
