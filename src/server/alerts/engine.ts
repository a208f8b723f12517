// Alert evaluation: threshold and collector-error rules on every stored report (after it is stored, off the
// ingest path), silence and log rates on a timer. A state change is written with its webhook deliveries;
// an alert already firing is not announced again (repeat suppression), and the states survive restarts.
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import { SEVERITY_LEVEL } from "../../shared/logs.ts";
import type { Store } from "../store/types.ts";
import type { AlertRow, AlertState } from "./alert-db.ts";
import { Deliverer } from "./delivery.ts";
import { readField } from "./fields.ts";
import type { AlertRule, AlertsFile } from "./rules.ts";
import { notification } from "./webhook-body.ts";

const alertLog = logger("alerts");
/** Reports waiting for evaluation; past this, the oldest are skipped (and counted) rather than held in memory. */
const MAX_QUEUED = 1_000;
const RECENT = 50;

export interface AlertEngineOptions {
  file: AlertsFile;
  /** relevo.db, or PostgreSQL shared by several servers. */
  db: AlertState;
  store: Store;
  clock: () => Date;
  /** The report interval a silent rule counts in when it names none (ms). */
  defaultIntervalMs: number;
}

export interface AlertsAnswer {
  firing: AlertRow[];
  recent: AlertRow[];
}

type Verdict = { firing: true; value: number | null; message: string } | { firing: false };

/** A state change decided in memory, to be written (with the others of its round) in one transaction. */
interface Change {
  rule: AlertRule;
  id: string;
  previous: AlertRow | undefined;
  row: AlertRow;
}

export class AlertEngine {
  readonly deliverer: Deliverer;
  /** In memory only: when a threshold with `for` first held for a subject (restarts begin again). */
  readonly #pendingSince = new Map<string, number>();
  /** The firing alerts, by rule and subject, as the database has them. */
  readonly #firing = new Map<string, AlertRow>();
  #queue: { ip: string; json: string }[] = [];
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | null = null;
  skipped = 0;
  evaluations = 0;

  constructor(private readonly o: AlertEngineOptions) {
    const { retry } = o.file;
    this.deliverer = new Deliverer(
      o.db,
      o.file.webhooks,
      { attempts: retry.attempts, initialMs: retry.initial, maxMs: retry.max },
      o.clock,
    );
    void this.#enqueue(() => this.#reload());
  }

  /** The firing alerts as the store has them (before each round when other servers change them too). */
  async #reload(): Promise<void> {
    const rows = await this.o.db.firing();
    this.#firing.clear();
    for (const row of rows) this.#firing.set(key(row.rule, row.subject), row);
  }

  get rules(): readonly AlertRule[] {
    return this.o.file.rules;
  }

  /** Starts the timer and sends deliveries left from before a restart. */
  start(): void {
    this.#timer = setInterval(() => this.tick(), this.o.file.evaluate_every);
    this.#timer.unref?.();
    this.deliverer.kick();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#chain;
    await this.deliverer.stop();
    await this.o.db.close();
  }

  /** A report was stored for `ip`: evaluated soon, never before the upload is answered. */
  observe(ip: string, json: string): void {
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue.shift();
      this.skipped += 1;
    }
    this.#queue.push({ ip, json });
    if (this.#queue.length === 1) setImmediate(() => this.#enqueue(() => this.#drain()));
  }

  /** Silence and log rates (the timer calls this; tests may too). */
  tick(): Promise<void> {
    return this.#enqueue(() => this.#timed());
  }

  /** Resolves once everything observed so far is evaluated (tests, shutdown). */
  async settle(): Promise<void> {
    await this.#chain;
  }

  async list(): Promise<AlertsAnswer> {
    return { firing: await this.o.db.firing(), recent: await this.o.db.recent(RECENT) };
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain
      .then(work)
      .catch((error) => alertLog.warn(`alert evaluation failed: ${errorMessage(error)}`));
    return this.#chain;
  }

  async #drain(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    if (this.o.db.shared) await this.#reload();
    const changes: Change[] = [];
    for (const { ip, json } of batch) {
      let report: unknown;
      try {
        report = JSON.parse(json);
      } catch {
        continue;
      }
      this.evaluations += 1;
      for (const rule of this.o.file.rules) {
        const verdict = this.#onReport(rule, ip, report);
        const change = verdict && this.#transition(rule, ip, verdict);
        if (change) changes.push(change);
      }
    }
    await this.#commit(changes);
  }

  #onReport(rule: AlertRule, ip: string, report: unknown): Verdict | null {
    const now = this.o.clock().getTime();
    switch (rule.type) {
      case "threshold": {
        const read = readField(rule.field, report);
        const id = key(rule.name, ip);
        if (read === null || !compare(read.value, rule.op, rule.value)) {
          this.#pendingSince.delete(id);
          return { firing: false };
        }
        const since = this.#pendingSince.get(id) ?? now;
        this.#pendingSince.set(id, since);
        if (now - since < rule.for) return null;
        const where = read.detail ? ` on ${read.detail}` : "";
        const value = Math.round(read.value * 100) / 100;
        return {
          firing: true,
          value,
          message: `${rule.field} is ${value}${where} (${rule.op} ${rule.value})`,
        };
      }
      case "collector_errors": {
        const errors = Array.isArray((report as { errors?: unknown }).errors)
          ? ((report as { errors: unknown[] }).errors as { collector?: unknown }[])
          : [];
        const names = [
          ...new Set(
            errors
              .map((error) => String(error?.collector ?? "?"))
              .filter((name) => !rule.collectors || rule.collectors.includes(name)),
          ),
        ];
        if (names.length === 0) return { firing: false };
        return {
          firing: true,
          value: names.length,
          message: `collectors failed: ${names.slice(0, 10).join(", ")}`,
        };
      }
      case "silent":
        // A report is the end of any silence.
        return { firing: false };
      default:
        return null;
    }
  }

  async #timed(): Promise<void> {
    // Several servers on one store: only the one holding the evaluator's lock runs the timed rules.
    if (!(await this.o.db.lead())) return;
    if (this.o.db.shared) await this.#reload();
    const now = this.o.clock().getTime();
    const changes: Change[] = [];
    const hosts = this.o.file.rules.some((rule) => rule.type === "silent") ? await this.o.store.hosts() : [];
    for (const rule of this.o.file.rules) {
      if (rule.type === "silent") {
        const bound = rule.intervals * (rule.interval ?? this.o.defaultIntervalMs);
        for (const host of hosts) {
          const seen = Date.parse(host.last_seen);
          const quiet = Number.isNaN(seen) ? 0 : now - seen;
          const verdict: Verdict =
            quiet > bound
              ? {
                  firing: true,
                  value: Math.round(quiet / 1000),
                  message: `no report for ${Math.round(quiet / 1000)} s (bound ${Math.round(bound / 1000)} s)`,
                }
              : { firing: false };
          const change = this.#transition(rule, host.ip, verdict);
          if (change) changes.push(change);
        }
      } else if (rule.type === "log_rate") {
        const count = await this.o.db.logCount(
          SEVERITY_LEVEL[rule.severity_at_least],
          (now - rule.window) * 1000,
          rule.service,
        );
        const verdict: Verdict =
          count >= rule.count
            ? {
                firing: true,
                value: count,
                message: `${count} log entries of ${rule.severity_at_least} or worse in ${rule.window / 1000} s`,
              }
            : { firing: false };
        const change = this.#transition(rule, rule.service ?? "*", verdict);
        if (change) changes.push(change);
      }
    }
    await this.#commit(changes);
  }

  /** Decides a change of state (none when it is already in that state: repeat suppression). */
  #transition(rule: AlertRule, subject: string, verdict: Verdict): Change | null {
    const id = key(rule.name, subject);
    const previous = this.#firing.get(id);
    if (verdict.firing === Boolean(previous)) return null;
    const now = this.o.clock().getTime();
    const row: AlertRow = verdict.firing
      ? {
          rule: rule.name,
          subject,
          state: "firing",
          severity: rule.severity,
          started_at: now,
          resolved_at: null,
          updated_at: now,
          value: verdict.value,
          message: verdict.message,
        }
      : { ...(previous as AlertRow), state: "resolved", resolved_at: now, updated_at: now };
    // Taken at once, so the next report of the same round sees it.
    if (verdict.firing) this.#firing.set(id, row);
    else this.#firing.delete(id);
    return { rule, id, previous, row };
  }

  /** Writes a round's changes and their deliveries in one transaction; undone in memory if that fails. */
  async #commit(changes: readonly Change[]): Promise<void> {
    if (changes.length === 0) return;
    const names = new Map((await this.o.store.hosts()).map((host) => [host.ip, host.hostname]));
    const writes = changes.map(({ rule, row, previous }) => {
      const webhooks = this.o.file.webhooks.filter(
        (hook) => !rule.webhooks || rule.webhooks.includes(hook.name),
      );
      const hostname = names.get(row.subject) ?? null;
      return {
        row,
        previous,
        deliveries: webhooks.map((hook) => ({
          webhook: hook.name,
          body: JSON.stringify(notification(hook.format, row, hostname)),
        })),
      };
    });
    let applied: Awaited<ReturnType<AlertState["change"]>>;
    try {
      applied = await this.o.db.change(writes);
    } catch (error) {
      for (const { id, previous } of [...changes].reverse()) {
        if (previous) this.#firing.set(id, previous);
        else this.#firing.delete(id);
      }
      throw error;
    }
    // On a shared store another server may have made a transition first: it announced it, not this one.
    for (const { row } of applied)
      alertLog.info(`${row.state}: ${row.rule} for ${row.subject}: ${row.message}`);
    if (applied.some((write) => write.deliveries.length)) this.deliverer.kick();
  }
}

function key(rule: string, subject: string): string {
  return `${rule}\u0000${subject}`;
}

function compare(value: number, op: ">" | ">=" | "<" | "<=", bound: number): boolean {
  switch (op) {
    case ">":
      return value > bound;
    case ">=":
      return value >= bound;
    case "<":
      return value < bound;
    default:
      return value <= bound;
  }
}
