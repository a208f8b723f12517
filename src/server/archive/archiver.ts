// One archive run: every closed day file old enough is compressed and uploaded, verified in the bucket,
// recorded in the manifest, and only then removed locally. Files go one at a time, so ingest keeps the CPU
// and the disk; a failure keeps its local file and is retried on a later run after a backoff.
import { join } from "node:path";
import { logger } from "../../shared/log.ts";
import { type DayZone, dayOf } from "../day.ts";
import { type Bucket, describeFailure, objectKey } from "./bucket.ts";
import { verifyObject } from "./fetch-object.ts";
import type { LogDayArchiver, LogRunResult } from "./log-days.ts";
import type { Manifest } from "./manifest.ts";
import { packAndUpload } from "./pack.ts";

const archiveLog = logger("archive");
const DAY_MS = 86_400_000;
/** Reports still in flight at midnight land in the old day: a day is closed only an hour after it ended. */
const GRACE_MS = 3600_000;

/** What the archiver needs from the file store. */
export interface ArchiveHost {
  readonly directory: string;
  validated(): Promise<void>;
  localDays(): { name: string; ip: string; date: string }[];
  isOpenForAppend(name: string): boolean;
  removeDay(name: string): Promise<void>;
  addDay(name: string): void;
}

export type Step = "uploaded" | "verified" | "recorded" | "removed";

export interface RunOptions {
  dryRun?: boolean;
  /** Scheduled runs skip failed files until their retry time; `archive run` tries them all now. */
  respectBackoff?: boolean;
  /** For tests: told after each step of each file. */
  onStep?: (name: string, step: Step) => void;
  /**
   * Share of the time spent archiving, the rest idle between files (1: back to back). Inside `serve` the
   * archive shares the CPU with ingest: hashing, gzip and the read-back cost about 1 CPU-s per 80 MB here.
   */
  duty?: number;
}

export interface RunResult {
  /** Files this run chose (for a dry run: what would be archived). */
  chosen: string[];
  archived: string[];
  failed: { name: string; error: string }[];
  /** Why the run stopped early (the bucket out of reach), if it did. */
  stopped?: string;
  /** With --archive-logs: the log days, archived after the day files. */
  logs?: LogRunResult;
}

/** The newest date that may be archived now: `afterDays` before today, and never a day still open. */
export function lastArchivableDate(now: Date, zone: DayZone, afterDays: number): string {
  const cutoff = dayOf(new Date(now.getTime() - Math.max(1, afterDays) * DAY_MS), zone);
  const closed = dayOf(new Date(now.getTime() - GRACE_MS - DAY_MS), zone);
  return cutoff < closed ? cutoff : closed;
}

export interface ArchiverDeps {
  host: ArchiveHost;
  bucket: Bucket;
  manifest: Manifest;
  zone: DayZone;
  clock: () => Date;
  /** gzip output past this goes multipart, in parts of this size (default PART_BYTES). */
  partBytes?: number;
  /** With --archive-logs: the central logs' days, archived in the same run after the day files. */
  logDays?: LogDayArchiver;
}

export class Archiver {
  private running: Promise<RunResult> | null = null;
  private stopping = false;

  constructor(private readonly deps: ArchiverDeps) {}

  get logDays(): LogDayArchiver | undefined {
    return this.deps.logDays;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  /** Ends the run in progress after the file it is on (server shutdown). */
  stop(): void {
    this.stopping = true;
  }

  /** The day files a run would take now, oldest first. */
  candidates(respectBackoff: boolean): { name: string; ip: string; date: string }[] {
    const { host, manifest, zone, clock, bucket } = this.deps;
    const now = clock();
    const last = lastArchivableDate(now, zone, bucket.settings.afterDays);
    return host
      .localDays()
      .filter((day) => {
        if (day.date > last || host.isOpenForAppend(day.name)) return false;
        const row = manifest.get(day.name);
        if (!row) return true;
        if (row.state === "restored") return false;
        // Copied already and meant to stay: nothing to do. Archived but still here: the removal did not
        // happen (a crash, or --archive-keep-local dropped since): the file is done over from the start.
        if (row.state === "archived") return !bucket.settings.keepLocal;
        return !respectBackoff || (row.retry_at ?? 0) <= now.getTime();
      })
      .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.name < b.name ? -1 : 1));
  }

  /** One run; a second call while one is going joins it. */
  run(options: RunOptions = {}): Promise<RunResult> {
    this.running ??= this.runOnce(options).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runOnce(options: RunOptions): Promise<RunResult> {
    const { host, manifest, clock } = this.deps;
    await host.validated();
    const chosen = this.candidates(options.respectBackoff ?? false);
    const result: RunResult = { chosen: chosen.map((day) => day.name), archived: [], failed: [] };
    const { logDays } = this.deps;
    if (options.dryRun) {
      if (logDays) result.logs = await logDays.run({ dryRun: true });
      return result;
    }
    const runId = manifest.startRun(clock().getTime());
    try {
      for (const day of chosen) {
        if (this.stopping) break;
        const began = performance.now();
        const error = await this.archiveOne(day, options.onStep);
        const duty = options.duty ?? 1;
        if (duty < 1) await Bun.sleep(((performance.now() - began) * (1 - duty)) / duty);
        if (!error) {
          result.archived.push(day.name);
          continue;
        }
        result.failed.push({ name: day.name, error: error.message });
        const row = manifest.recordFailure(day, error.message, clock().getTime());
        const retry = new Date(row.retry_at ?? 0).toISOString();
        if (error.fatal) {
          result.stopped = error.message;
          archiveLog.error(
            `archive run stopped, ${chosen.length - result.archived.length} file(s) kept locally: ${error.message}; retried after ${retry}`,
          );
          break;
        }
        archiveLog.error(`${day.name} kept locally: ${error.message}; retried after ${retry}`);
      }
      // The bucket out of reach for the day files is out of reach for the logs too: they wait for the next run.
      if (logDays && !result.stopped && !this.stopping) {
        result.logs = await logDays.run({ respectBackoff: options.respectBackoff ?? false });
      }
    } finally {
      const logs = result.logs;
      manifest.finishRun(
        runId,
        {
          archived: result.archived.length + (logs?.archived.length ?? 0),
          failed: result.failed.length + (logs?.failed.length ?? 0),
          error: result.stopped ?? logs?.stopped,
        },
        clock().getTime(),
      );
    }
    if (result.archived.length) {
      archiveLog.info(`archived ${result.archived.length} day file(s) to ${this.deps.bucket.where}`);
    }
    return result;
  }

  /** Archives one day file; returns the failure instead of throwing it. The local file stays on any failure. */
  private async archiveOne(
    day: { name: string; ip: string; date: string },
    onStep: RunOptions["onStep"],
  ): Promise<ReturnType<typeof describeFailure> | null> {
    const { host, bucket, manifest, clock } = this.deps;
    const key = objectKey(bucket.settings.prefix, day.name, day.date);
    try {
      const packed = await packAndUpload(bucket, join(host.directory, day.name), key, this.deps.partBytes);
      onStep?.(day.name, "uploaded");
      await verifyObject(bucket, {
        key,
        bytes: packed.bytes,
        sha256: packed.sha256,
        gzBytes: packed.gzBytes,
        gzMd5: packed.multipart ? undefined : packed.gzMd5,
      });
      onStep?.(day.name, "verified");
      manifest.recordArchived({ ...day, key, ...packed }, clock().getTime());
      onStep?.(day.name, "recorded");
      if (!bucket.settings.keepLocal) {
        await host.removeDay(day.name);
        onStep?.(day.name, "removed");
      }
      return null;
    } catch (error) {
      return describeFailure(error, bucket, `archiving ${day.name}`);
    }
  }
}
