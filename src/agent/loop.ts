// The agent's loop: collect, deliver (spooled reports first, oldest first), wait, repeat.
//
// When the server does not answer (or answers 5xx, 408, 429), the report goes to the spool and tries back
// off exponentially with jitter, from `backoff.baseMs` up to the report interval (at most `backoff.maxMs`);
// reports collected meanwhile go straight to the spool. Once a try succeeds the spool drains, oldest first,
// before the new report. 4xx answers are not retried: the report is dropped with the server's message;
// 401/403 (a token problem, not a report problem) leave the spooled reports in place for when the token is
// fixed, and new reports join them there. The clock, the randomness and the sleep come in as parameters.
import { errorMessage } from "../shared/errors.ts";
import { checkReport, type Report } from "../shared/report.ts";
import type { AgentLog } from "./_log.ts";
import { InventoryGate } from "./inventory-gate.ts";
import type { Outcome, Send } from "./send.ts";
import { formatBytes, type Spool } from "./spool.ts";

export interface ReportSource {
  collect(): Promise<Report>;
  close(): void | Promise<void>;
}

export interface AgentOptions {
  collector: ReportSource;
  spool: Spool;
  send: Send;
  /** Sends a spooled batch of log entries (from `relevo-agent log`) to POST /logs. */
  sendLogs: Send;
  intervalMs: number;
  now: () => number;
  random: () => number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  log: AgentLog;
  backoff?: { baseMs: number; maxMs: number };
  /** Up to this share of the interval is added at random (0.1: up to 10 %). */
  jitter?: number;
  /** One cycle only (`run --once`): there is no next try to announce. */
  once?: boolean;
  /** Runs after each report of `run`, before the wait: gives memory back (see _memory.ts). */
  afterReport?: () => void | Promise<void>;
  /** Called when a new report was delivered (a trial of a new version is confirmed by it). */
  onDelivered?: () => void | Promise<void>;
  /** Decides when the software and service lists go along (default: on change, at start, daily). */
  gate?: InventoryGate;
}

export type CycleResult =
  | { report: "delivered"; reportId: string; status: number }
  | { report: "spooled"; reportId: string; reason: string }
  | { report: "rejected"; reportId: string; status: number; message: string }
  | { report: "invalid"; reportId: string | undefined; message: string }
  | { report: "lost"; reportId: string; message: string };

/** Where the spool stands after trying to empty it. */
type DrainResult = { done: true } | { done: false; outcome: Outcome };

export const DEFAULT_BACKOFF = { baseMs: 2_000, maxMs: 300_000 } as const;

/** Bounds a server's `next_report_in` to something sane: 1 s to a week. */
const MIN_INTERVAL_MS = 1_000;
const MAX_INTERVAL_MS = 7 * 86_400_000;

export class Agent {
  private failures = 0;
  /** When the next delivery try may happen while the server is away; 0 when not waiting. */
  private retryAt = 0;
  /** The interval the server asked for in its last answer. */
  private serverIntervalMs: number | undefined;
  private readonly backoff: { baseMs: number; maxMs: number };
  /** Aborted to end the current wait early: the server asked for a report now. */
  private wake = new AbortController();
  /** Callers of collectNow() waiting for the next cycle's result. */
  private asked: ((result: CycleResult) => void)[] = [];
  private readonly gate: InventoryGate;

  constructor(readonly options: AgentOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.gate = options.gate ?? new InventoryGate(options.now);
  }

  /** The interval to wait after a collection started: the server's wish or ours, plus jitter. */
  nextIntervalMs(): number {
    const base = this.serverIntervalMs ?? this.options.intervalMs;
    return base * (1 + (this.options.jitter ?? 0.1) * this.options.random());
  }

  /** The wait before the next try after `failures` failed ones: exponential, capped, half of it random. */
  backoffMs(failures: number, retryAfterMs?: number): number {
    const cap = Math.min(this.backoff.maxMs, Math.max(this.backoff.baseMs, this.options.intervalMs));
    const exp = Math.min(cap, this.backoff.baseMs * 2 ** Math.min(failures - 1, 30));
    const delay = exp / 2 + (exp / 2) * this.options.random();
    // A server's Retry-After is honoured, within reason.
    return retryAfterMs === undefined ? delay : Math.max(delay, Math.min(retryAfterMs, 15 * 60_000));
  }

  /** Collects one report and delivers it (after the spool), or spools it. */
  async cycle(signal: AbortSignal): Promise<CycleResult> {
    const { collector, log } = this.options;
    let report: Report;
    try {
      report = await collector.collect();
    } catch (error) {
      const message = `collection failed: ${errorMessage(error)}`;
      log.error(message);
      return { report: "invalid", reportId: undefined, message };
    }
    const check = checkReport(report);
    if (!check.ok) {
      const list = check.issues.slice(0, 5).map((i) => `${i.path || "(report)"}: ${i.message}`);
      const message = `the collected report does not pass the schema, not sending it: ${list.join("; ")}`;
      log.error(message);
      return { report: "invalid", reportId: report.report_id, message };
    }
    const id = report.report_id;
    // Encoded as late as possible: spooled reports delivered just before may have carried the same lists,
    // and then this one needs only their hashes.
    let encoded: Uint8Array | undefined;
    const body = (): Uint8Array => {
      if (!encoded) {
        encoded = Bun.gzipSync(JSON.stringify(this.gate.shape(check.report)));
        log.debug(`collected report ${id} (${formatBytes(encoded.byteLength)} gzip)`);
      }
      return encoded;
    };
    if (signal.aborted) return this.keep(id, body(), "stopping");
    if (this.retryAt && this.options.now() < this.retryAt) {
      return this.keep(id, body(), "the server was away at the last try");
    }
    const drained = await this.drain(signal);
    if (!drained.done) {
      const { outcome } = drained;
      if (outcome.kind === "retry") return this.keep(id, body(), outcome.reason);
      if (outcome.kind === "rejected") {
        // 401/403: this report would be refused the same way; it waits with the others for a token.
        return this.keep(id, body(), tokenRefused(outcome));
      }
    }
    const outcome = await this.options.send(body(), signal);
    switch (outcome.kind) {
      case "delivered":
        this.succeeded(outcome);
        await this.options.onDelivered?.();
        this.gate.delivered(id);
        log.debug(`delivered report ${id} (${outcome.status}${outcome.duplicate ? ", already stored" : ""})`);
        return { report: "delivered", reportId: id, status: outcome.status };
      case "retry":
        this.failed(outcome);
        return this.keep(id, body(), outcome.reason);
      case "rejected":
        if (isAuthProblem(outcome.status)) {
          this.options.log.error(
            `the server refused the token (${outcome.status} ${outcome.code}: ${outcome.message}); report ${id} is kept in the spool until it accepts one (revoked? run relevo-agent register again)`,
          );
          return this.keep(id, body(), tokenRefused(outcome));
        }
        return this.rejected(id, outcome);
    }
  }

  /** Sends the spooled reports, oldest first, until the spool is empty or the server stops taking them. */
  async drain(signal: AbortSignal): Promise<DrainResult> {
    const { spool, send, sendLogs, log } = this.options;
    // Batches `relevo-agent log` handed over while this agent held the spool.
    await spool.adoptIncoming();
    let sent = 0;
    let refused = 0;
    const done = (result: DrainResult): DrainResult => {
      if (sent || refused) {
        log.info(
          `spool: ${sent} report${sent === 1 ? "" : "s"} delivered${refused ? `, ${refused} refused by the server and dropped` : ""}, ${spool.size} left`,
        );
      }
      return result;
    };
    for (;;) {
      if (signal.aborted) {
        return done({
          done: false,
          outcome: { kind: "retry", status: undefined, reason: "stopping", retryAfterMs: undefined },
        });
      }
      const next = await spool.next();
      if (!next) return done({ done: true });
      const outcome = await (next.kind === "logs" ? sendLogs : send)(next.payload, signal);
      if (outcome.kind === "delivered") {
        this.succeeded(outcome);
        this.gate.delivered(next.reportId);
        await spool.remove(next.entry);
        sent++;
        continue;
      }
      if (outcome.kind === "retry") {
        this.failed(outcome);
        return done({ done: false, outcome });
      }
      if (isAuthProblem(outcome.status)) {
        log.error(
          `the server refused the token (${outcome.status} ${outcome.code}: ${outcome.message}); ` +
            `keeping ${spool.size} spooled report${spool.size === 1 ? "" : "s"} until it accepts it`,
        );
        return done({ done: false, outcome });
      }
      log.error(
        `the server refused spooled ${next.kind === "logs" ? "log batch" : "report"} ${next.reportId} (${outcome.status} ${outcome.code}: ${outcome.message}); not retrying it`,
      );
      this.gate.dropped(next.reportId);
      await spool.remove(next.entry);
      refused++;
    }
  }

  /** Asks the running loop for a report now (a server's collect command); resolves with its result. */
  collectNow(): Promise<CycleResult> {
    return new Promise((resolve) => {
      this.asked.push(resolve);
      this.wake.abort();
    });
  }

  /** Runs until `signal` aborts: a report every interval, spool tries in between while the server is away. */
  async run(signal: AbortSignal): Promise<void> {
    const { now, sleep, spool, log } = this.options;
    let nextCollect = now();
    let trouble = 0;
    while (!signal.aborted) {
      const start = now();
      let waiting: ((result: CycleResult) => void)[] = [];
      try {
        if (start >= nextCollect || this.asked.length) {
          // Set first so that a step that throws still waits an interval before collecting again.
          nextCollect = start + this.options.intervalMs;
          waiting = this.asked.splice(0);
          const result = await this.cycle(signal);
          for (const resolve of waiting) resolve(result);
          await this.options.afterReport?.();
          // After the cycle: the server's answer may have changed the interval.
          nextCollect = Math.max(start + this.nextIntervalMs(), now() + 100);
        } else if (this.retryAt && start >= this.retryAt && spool.size > 0) {
          await this.drain(signal);
        }
        trouble = 0;
      } catch (error) {
        // A broken spool directory or a bug in one step: log it and carry on later, never crash-loop.
        trouble++;
        log.error(`agent step failed (${trouble} in a row): ${errorMessage(error)}`);
        for (const resolve of waiting)
          resolve({ report: "invalid", reportId: undefined, message: errorMessage(error) });
        await sleep(this.backoffMs(trouble), signal);
        continue;
      }
      const wakeAt =
        this.retryAt && spool.size > 0 && this.retryAt < nextCollect ? this.retryAt : nextCollect;
      if (this.asked.length) continue;
      this.wake = new AbortController();
      await sleep(Math.max(0, wakeAt - now()), AbortSignal.any([signal, this.wake.signal]));
    }
  }

  private succeeded(outcome: Extract<Outcome, { kind: "delivered" }>): void {
    if (this.failures > 0) {
      this.options.log.info(
        `the server answers again after ${this.failures} failed tr${this.failures === 1 ? "y" : "ies"}`,
      );
    }
    this.failures = 0;
    this.retryAt = 0;
    this.serverIntervalMs =
      outcome.nextReportInS === undefined
        ? undefined
        : Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, outcome.nextReportInS * 1000));
  }

  private failed(outcome: Extract<Outcome, { kind: "retry" }>): void {
    this.failures++;
    const wait = this.backoffMs(this.failures, outcome.retryAfterMs);
    this.retryAt = this.options.now() + wait;
    const say = this.failures === 1 ? "warn" : "debug";
    const next = this.options.once
      ? ""
      : `, next try in ${(wait / 1000).toFixed(1)} s (try ${this.failures})`;
    this.options.log[say](`${outcome.reason}; keeping reports in the spool${next}`);
  }

  /** Puts a report in the spool; a spool that cannot be written loses this report but not the agent. */
  private async keep(id: string, body: Uint8Array, reason: string): Promise<CycleResult> {
    const { spool, log } = this.options;
    try {
      await spool.add(id, body);
      log.debug(`spooled report ${id} (${reason}); ${spool.size} waiting`);
      return { report: "spooled", reportId: id, reason };
    } catch (error) {
      const message = `cannot write report ${id} to the spool ${spool.options.dir}: ${errorMessage(error)}; it is lost`;
      log.error(message);
      return { report: "lost", reportId: id, message };
    }
  }

  private rejected(id: string, outcome: Extract<Outcome, { kind: "rejected" }>): CycleResult {
    this.gate.dropped(id);
    this.options.log.error(
      `the server refused report ${id} (${outcome.status} ${outcome.code}: ${outcome.message}); not retrying it`,
    );
    return { report: "rejected", reportId: id, status: outcome.status, message: outcome.message };
  }
}

function tokenRefused(outcome: Extract<Outcome, { kind: "rejected" }>): string {
  return `the server refused the token (${outcome.status} ${outcome.code}: ${outcome.message})`;
}

function isAuthProblem(status: number): boolean {
  return status === 401 || status === 403;
}
