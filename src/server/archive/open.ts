// The archive's parts for a data directory: the bucket, the manifest in relevo.db, the archiver over the
// file store, and the view of the store that reads archived days back.
import type { Database } from "bun:sqlite";
import type { DayZone } from "../day.ts";
import type { Store } from "../store/types.ts";
import { type ArchiveHost, Archiver } from "./archiver.ts";
import { type Bucket, openBucket } from "./bucket.ts";
import { LogDayArchiver } from "./log-days.ts";
import { Manifest } from "./manifest.ts";
import type { ArchiveSettings } from "./settings.ts";
import { ArchivedView } from "./view.ts";

export interface OpenArchive {
  bucket: Bucket;
  manifest: Manifest;
  archiver: Archiver;
  /** The store with archived days listed and readable. */
  view: Store;
}

export function openArchive(
  settings: ArchiveSettings,
  store: Store & ArchiveHost,
  db: Database,
  zone: DayZone,
  clock: () => Date,
  /** With --archive-logs: the log retention in days (0: no log archive). */
  logRetentionDays = 0,
): OpenArchive {
  const bucket = openBucket(settings);
  const manifest = new Manifest(db);
  const logDays =
    settings.logs && logRetentionDays > 0
      ? new LogDayArchiver({ db, bucket, directory: store.directory, retentionDays: logRetentionDays, clock })
      : undefined;
  const archiver = new Archiver({ host: store, bucket, manifest, zone, clock, logDays });
  return { bucket, manifest, archiver, view: new ArchivedView(store, manifest, bucket) };
}
