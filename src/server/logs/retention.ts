// Background retention: entries older than --logs-retention-days (by receive time) and, past
// --logs-max-bytes, the oldest entries go in small chunks. Each chunk rides in an ingest group's
// transaction and the loop yields between chunks, so ingest never waits behind a long delete.
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { Logs } from "./log-store.ts";

const retentionLog = logger("logs");

interface RetentionOptions {
  clock: () => Date;
  /** Rows per delete (default 500). */
  chunk?: number;
  /** Pause between chunks while there is a backlog (default 5 ms). */
  busyMs?: number;
  /** Pause once nothing is left to delete (default 60 s). */
  idleMs?: number;
}

export class LogRetention {
  #timer: Timer | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly store: Logs,
    private readonly options: RetentionOptions,
  ) {}

  get enabled(): boolean {
    return this.store.retentionDays > 0 || this.store.maxBytes > 0;
  }

  start(): void {
    if (this.enabled) this.#schedule(1000);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Deletes until nothing is beyond the bounds; returns how many went. For tests and the CLI. */
  async runToEnd(): Promise<number> {
    let total = 0;
    for (;;) {
      const gone = await this.store.trim(this.options.clock(), this.options.chunk ?? 500);
      total += gone;
      if (gone === 0) return total;
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick();
    }, ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let next = this.options.idleMs ?? 60_000;
    try {
      const gone = await this.store.trim(this.options.clock(), this.options.chunk ?? 500);
      if (gone > 0) next = this.options.busyMs ?? 5;
    } catch (error) {
      retentionLog.warn(`log retention failed, retrying later: ${errorMessage(error)}`);
    }
    this.#schedule(next);
  }
}
