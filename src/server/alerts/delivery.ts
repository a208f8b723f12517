// Webhook delivery from the outbox: each due delivery is POSTed; a 2xx removes it, anything else (refused,
// unreachable, timed out) tries again later with exponential backoff and jitter, up to the configured
// attempts, then it is dropped, logged and counted. Never on the ingest path: it runs on its own timer.
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { AlertState, OutboxRow } from "./alert-db.ts";
import type { WebhookConfig } from "./rules.ts";

const alertLog = logger("alerts");
const TIMEOUT_MS = 10_000;
const BATCH = 32;
/** On a shared store another server may queue deliveries (or die holding some): look this often at least. */
const SHARED_POLL_MS = 2_000;

export interface RetryPolicy {
  attempts: number;
  initialMs: number;
  maxMs: number;
}

export interface DeliveryCounts {
  sent: number;
  failedAttempts: number;
  dropped: number;
}

export class Deliverer {
  readonly counts: DeliveryCounts = { sent: 0, failedAttempts: 0, dropped: 0 };
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  /** Cuts requests in flight at stop, so a receiver that hangs cannot hold the server's shutdown. */
  readonly #abort = new AbortController();
  readonly #hooks: Map<string, WebhookConfig>;

  constructor(
    private readonly db: AlertState,
    webhooks: readonly WebhookConfig[],
    private readonly retry: RetryPolicy,
    private readonly clock: () => Date,
    private readonly random: () => number = Math.random,
  ) {
    this.#hooks = new Map(webhooks.map((hook) => [hook.name, hook]));
  }

  /** Sends what is due now and schedules the next wake-up. */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) {
      // Look again once the current round ends: a delivery queued meanwhile may be due already.
      void this.#running.then(() => this.kick());
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#running = this.#round()
      .catch((error) => alertLog.warn(`webhook delivery failed: ${errorMessage(error)}`))
      .finally(() => {
        this.#running = null;
        this.#schedule().catch((error) => {
          alertLog.warn(`webhook delivery: cannot read the outbox: ${errorMessage(error)}`);
          if (this.db.shared && !this.#stopped) this.#timer = setTimeout(() => this.kick(), SHARED_POLL_MS);
        });
      });
  }

  pendingCount(): number | Promise<number> {
    return this.db.pending();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running;
  }

  async #schedule(): Promise<void> {
    if (this.#stopped) return;
    const next = await this.db.nextDue();
    if (this.#stopped) return;
    let wait = next === null ? null : Math.max(0, next - this.clock().getTime());
    if (this.db.shared) wait = Math.min(wait ?? SHARED_POLL_MS, SHARED_POLL_MS);
    if (wait === null) return;
    this.#timer = setTimeout(() => this.kick(), wait);
  }

  async #round(): Promise<void> {
    for (;;) {
      const due = await this.db.due(this.clock().getTime(), BATCH);
      if (due.length === 0) return;
      await Promise.all(due.map((row) => this.#send(row)));
      if (this.#stopped) return;
    }
  }

  async #send(row: OutboxRow): Promise<void> {
    const hook = this.#hooks.get(row.webhook);
    if (!hook) {
      alertLog.warn(`dropping a delivery to webhook ${row.webhook}: it is no longer in the alerts file`);
      this.counts.dropped += 1;
      await this.db.delivered(row.id);
      return;
    }
    let problem: string;
    try {
      const res = await fetch(hook.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: row.body,
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(TIMEOUT_MS)]),
        redirect: "manual",
      });
      await res.body?.cancel();
      if (res.ok) {
        this.counts.sent += 1;
        await this.db.delivered(row.id);
        return;
      }
      problem = `HTTP ${res.status}`;
    } catch (error) {
      problem = errorMessage(error);
    }
    this.counts.failedAttempts += 1;
    const attempts = row.attempts + 1;
    if (attempts >= this.retry.attempts) {
      alertLog.warn(`webhook ${hook.name}: giving up after ${attempts} attempts (${problem})`);
      this.counts.dropped += 1;
      await this.db.delivered(row.id);
      return;
    }
    // Full backoff doubled per attempt, capped, with up to a quarter of jitter so a fleet of alerts does
    // not hit a recovering receiver at one instant.
    const base = Math.min(this.retry.maxMs, this.retry.initialMs * 2 ** (attempts - 1));
    const wait = Math.round(base * (0.75 + 0.25 * this.random()));
    await this.db.retryLater(row.id, attempts, this.clock().getTime() + wait);
  }
}
