// The daily archive run inside `serve`: at --archive-at (in the store's day zone) plus a random jitter, so a
// fleet of servers does not hit the bucket at once; a run missed for a day (server down) happens soon after
// start; a run with failures is retried with a growing, jittered backoff. The timer never holds the exit.
import type { ArchiveHealth } from "../../shared/api.ts";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { DayZone } from "../day.ts";
import type { Archiver } from "./archiver.ts";
import type { Manifest } from "./manifest.ts";
import type { ArchiveSettings } from "./settings.ts";

const DAY_MS = 86_400_000;
/** How long stopping the server waits for the file being archived; after that the run is left behind. */
const STOP_WAIT_MS = 5_000;
const scheduleLog = logger("archive");

/** The next moment after `now` whose clock time in `zone` is `atMinutes` past midnight. */
export function nextSlot(now: Date, atMinutes: number, zone: DayZone): Date {
  const at = new Date(now.getTime());
  if (zone === "utc") at.setUTCHours(Math.floor(atMinutes / 60), atMinutes % 60, 0, 0);
  else at.setHours(Math.floor(atMinutes / 60), atMinutes % 60, 0, 0);
  if (at.getTime() <= now.getTime()) {
    if (zone === "utc") at.setUTCDate(at.getUTCDate() + 1);
    else at.setDate(at.getDate() + 1);
  }
  return at;
}

/** After `failedRuns` failed runs in a row: 5 min, doubling, up to 6 h. */
export function runBackoffMs(failedRuns: number): number {
  return Math.min(5 * 60_000 * 2 ** Math.max(0, failedRuns - 1), 6 * 3600_000);
}

export class ArchiveSchedule {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextAt: Date | null = null;
  private current: Promise<unknown> | null = null;
  private stopped = false;

  constructor(
    private readonly archiver: Pick<Archiver, "run" | "busy" | "stop"> & { logDays?: Archiver["logDays"] },
    private readonly manifest: Pick<Manifest, "lastRun" | "counts" | "list" | "failedRunsInARow">,
    private readonly settings: ArchiveSettings,
    private readonly zone: DayZone,
    private readonly clock: () => Date,
    private readonly random: () => number = Math.random,
  ) {}

  start(): void {
    const now = this.clock();
    const last = this.manifest.lastRun();
    const missed = !last || last.started_at < now.getTime() - DAY_MS;
    this.plan(missed ? now : nextSlot(now, this.settings.atMinutes, this.zone));
  }

  private plan(base: Date): void {
    if (this.stopped) return;
    const at = new Date(base.getTime() + Math.floor(this.random() * this.settings.jitterMs));
    this.nextAt = at;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), Math.max(0, at.getTime() - this.clock().getTime()));
    this.timer.unref?.();
  }

  private fire(): void {
    this.nextAt = null;
    this.current = this.archiver
      .run({ respectBackoff: true, duty: this.settings.duty })
      .then(
        (result) =>
          result.failed.length > 0 || result.stopped !== undefined || (result.logs?.failed.length ?? 0) > 0,
      )
      .catch((error) => {
        scheduleLog.error(`archive run failed: ${errorMessage(error)}`);
        return true;
      })
      .then((failed) => {
        this.current = null;
        const now = this.clock();
        const daily = nextSlot(now, this.settings.atMinutes, this.zone);
        if (!failed) return this.plan(daily);
        const retry = new Date(now.getTime() + runBackoffMs(this.manifest.failedRunsInARow()));
        this.plan(retry < daily ? retry : daily);
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.archiver.stop();
    if (!this.current) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((done) => {
      timer = setTimeout(done, STOP_WAIT_MS);
    });
    await Promise.race([this.current, waited]);
    clearTimeout(timer);
  }

  health(): ArchiveHealth {
    const counts = this.manifest.counts();
    const last = this.manifest.lastRun();
    const failure = counts.failed ? this.manifest.list("failed").at(-1)?.error : undefined;
    const logRows = this.archiver.logDays?.rows;
    const logCounts = logRows?.counts();
    const logFailure = logCounts?.failed ? logRows?.list("failed").at(-1)?.error : undefined;
    const problem = last?.error ?? failure ?? logFailure ?? undefined;
    return {
      url: `s3://${this.settings.bucket}/${this.settings.prefix}`,
      running: this.archiver.busy,
      archived: counts.archived,
      failed: counts.failed,
      last_run_at: last ? new Date(last.started_at).toISOString() : null,
      next_run_at: this.nextAt ? this.nextAt.toISOString() : null,
      ...(logCounts ? { log_days_archived: logCounts.archived, log_days_failed: logCounts.failed } : {}),
      ...(problem ? { problem } : {}),
    };
  }
}
