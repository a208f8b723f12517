// Bringing archived days back: `archive restore` writes the object's day file into the data directory
// (checked against the manifest's SHA-256 before it gets its name), and `archive verify` re-checks objects.
import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { nodeStoreFs } from "../store/fs.ts";
import type { ArchiveHost } from "./archiver.ts";
import { ArchiveError, type Bucket } from "./bucket.ts";
import { openObject, verifyObject } from "./fetch-object.ts";
import type { ArchivedRow } from "./manifest.ts";
import { PART_BYTES } from "./pack.ts";

/** What restore and verify use of a manifest: relevo.db's (synchronous) or PostgreSQL's. */
export interface ManifestAccess {
  get(name: string): ArchivedRow | null | Promise<ArchivedRow | null>;
  list(state: "archived"): ArchivedRow[] | Promise<ArchivedRow[]>;
  markVerified(name: string, now: number): void | Promise<void>;
  markRestored(name: string): void | Promise<void>;
}

export async function restoreDay(
  host: Pick<ArchiveHost, "directory" | "addDay">,
  bucket: Bucket,
  manifest: ManifestAccess,
  name: string,
): Promise<ArchivedRow> {
  const row = await manifest.get(name);
  if (!row || row.state === "failed" || !row.object_key || !row.sha256) {
    throw new ArchiveError(`${name} is not in the archive manifest`, false);
  }
  const path = join(host.directory, name);
  if (existsSync(path)) throw new ArchiveError(`${name} is already in ${host.directory}`, false);
  const temp = join(host.directory, `.${name}.restoring`);
  const fd = openSync(temp, "w", 0o640);
  const sha = createHash("sha256");
  let bytes = 0;
  try {
    const reader = (await openObject(bucket, row.object_key)).getReader();
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      sha.update(next.value);
      for (let done = 0; done < next.value.length; ) {
        done += writeSync(fd, next.value, done, next.value.length - done);
      }
      bytes += next.value.length;
    }
    fsyncSync(fd);
    closeSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  if (sha.digest("hex") !== row.sha256 || bytes !== row.bytes) {
    rmSync(temp, { force: true });
    throw new ArchiveError(
      `${row.object_key} reads back different from the manifest's SHA-256: not restored`,
      false,
    );
  }
  renameSync(temp, path);
  await nodeStoreFs.syncDir(host.directory);
  host.addDay(name);
  await manifest.markRestored(name);
  return row;
}

export interface VerifyResult {
  checked: number;
  bad: { name: string; error: string }[];
}

/** Re-checks archived objects (all, or a random sample of `sample`) against the manifest. */
export async function verifyArchive(
  bucket: Bucket,
  manifest: ManifestAccess,
  sample: number | null,
  now: () => number,
): Promise<VerifyResult> {
  let rows = await manifest.list("archived");
  if (sample !== null && rows.length > sample) {
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [rows[i], rows[j]] = [rows[j] as ArchivedRow, rows[i] as ArchivedRow];
    }
    rows = rows.slice(0, sample);
  }
  const bad: VerifyResult["bad"] = [];
  for (const row of rows) {
    try {
      await verifyObject(bucket, {
        key: row.object_key ?? "",
        bytes: row.bytes ?? -1,
        sha256: row.sha256 ?? "",
        gzBytes: row.gz_bytes ?? -1,
        // Single-part uploads (everything under one part) have the MD5 as their ETag.
        gzMd5: (row.gz_bytes ?? PART_BYTES) < PART_BYTES ? (row.gz_md5 ?? undefined) : undefined,
      });
      await manifest.markVerified(row.name, now());
    } catch (error) {
      bad.push({ name: row.name, error: (error as Error).message });
      if (error instanceof ArchiveError && error.fatal) break;
    }
  }
  return { checked: rows.length, bad };
}
