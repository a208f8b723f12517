// The alerts' rows in relevo.db: each rule and subject's newest state, and the webhook deliveries still to
// make. A state change and its deliveries are written in one transaction (through the group commit), so a
// restart finds either both or neither.
import type { Database } from "bun:sqlite";
import type { GroupCommit } from "../db/group-commit.ts";

export interface AlertRow {
  rule: string;
  subject: string;
  state: "firing" | "resolved";
  severity: string;
  started_at: number;
  resolved_at: number | null;
  updated_at: number;
  value: number | null;
  message: string;
}

export interface OutboxRow {
  id: number;
  webhook: string;
  body: string;
  attempts: number;
  next_at: number;
}

/** A state change decided by the engine, written with its webhook deliveries. */
export interface AlertChange {
  row: AlertRow;
  /** The row the engine saw before (absent when the alert was not firing): a shared store changes only from it. */
  previous?: AlertRow | undefined;
  deliveries: readonly { webhook: string; body: string }[];
}

type Maybe<T> = T | Promise<T>;

/**
 * Where the engine keeps its state: relevo.db (one server) or PostgreSQL (several; see pg/alert-db.ts).
 * `change` returns the changes that took effect: on a shared store another server may have made the same
 * transition first, and then that change (and its deliveries) is not written again.
 */
export interface AlertState {
  /** True when several servers share the state (the engine reads it again before each round). */
  readonly shared: boolean;
  firing(): Maybe<AlertRow[]>;
  recent(limit: number): Maybe<AlertRow[]>;
  change(changes: readonly AlertChange[]): Promise<readonly AlertChange[]>;
  /** Deliveries due now, claimed by this server (another server does not send them meanwhile). */
  due(now: number, limit: number): Maybe<OutboxRow[]>;
  nextDue(): Maybe<number | null>;
  pending(): Maybe<number>;
  delivered(id: number): Promise<void>;
  retryLater(id: number, attempts: number, nextAt: number): Promise<void>;
  logCount(level: number, sinceMicros: number, service: string | undefined): Maybe<number>;
  /** Whether this server runs the timed rules now (one server at a time on a shared store). */
  lead(): Maybe<boolean>;
  close(): Promise<void>;
}

export class AlertDb implements AlertState {
  readonly shared = false;

  constructor(
    private readonly db: Database,
    private readonly writer: GroupCommit,
  ) {}

  firing(): AlertRow[] {
    return this.db
      .query("SELECT * FROM alerts WHERE state = 'firing' ORDER BY started_at, rule, subject")
      .all() as AlertRow[];
  }

  recent(limit: number): AlertRow[] {
    return this.db
      .query("SELECT * FROM alerts WHERE state = 'resolved' ORDER BY resolved_at DESC, rule, subject LIMIT ?")
      .all(limit) as AlertRow[];
  }

  /** Writes the new states of alerts and queues their deliveries, all in one transaction. */
  async change(changes: readonly AlertChange[]): Promise<readonly AlertChange[]> {
    if (changes.length === 0) return changes;
    await this.writer.run(() => {
      const upsert = this.db.query(
        `INSERT INTO alerts (rule, subject, state, severity, started_at, resolved_at, updated_at, value, message)
         VALUES ($rule, $subject, $state, $severity, $started_at, $resolved_at, $updated_at, $value, $message)
         ON CONFLICT (rule, subject) DO UPDATE SET state = excluded.state, severity = excluded.severity,
           started_at = excluded.started_at, resolved_at = excluded.resolved_at,
           updated_at = excluded.updated_at, value = excluded.value, message = excluded.message`,
      );
      const insert = this.db.query(
        "INSERT INTO alert_outbox (webhook, body, created_at, attempts, next_at) VALUES (?, ?, ?, 0, ?)",
      );
      for (const { row, deliveries } of changes) {
        upsert.run(row as unknown as Record<string, string | number | null>);
        for (const { webhook, body } of deliveries) insert.run(webhook, body, row.updated_at, row.updated_at);
      }
    });
    return changes;
  }

  lead(): boolean {
    return true;
  }

  async close(): Promise<void> {}

  due(now: number, limit: number): OutboxRow[] {
    return this.db
      .query(
        "SELECT id, webhook, body, attempts, next_at FROM alert_outbox WHERE next_at <= ? ORDER BY id LIMIT ?",
      )
      .all(now, limit) as OutboxRow[];
  }

  nextDue(): number | null {
    return (this.db.query("SELECT min(next_at) AS n FROM alert_outbox").get() as { n: number | null }).n;
  }

  pending(): number {
    return (this.db.query("SELECT count(*) AS n FROM alert_outbox").get() as { n: number }).n;
  }

  async delivered(id: number): Promise<void> {
    await this.writer.run(() => this.db.query("DELETE FROM alert_outbox WHERE id = ?").run(id));
  }

  async retryLater(id: number, attempts: number, nextAt: number): Promise<void> {
    await this.writer.run(() =>
      this.db
        .query("UPDATE alert_outbox SET attempts = ?, next_at = ? WHERE id = ?")
        .run(attempts, nextAt, id),
    );
  }

  /** Entries of `level` or worse received since `sinceMicros` (the log_rate rules). */
  logCount(level: number, sinceMicros: number, service: string | undefined): number {
    const row = service
      ? this.db
          .query("SELECT count(*) AS n FROM logs WHERE received >= ? AND level >= ? AND service = ?")
          .get(sinceMicros, level, service)
      : this.db
          .query("SELECT count(*) AS n FROM logs WHERE received >= ? AND level >= ?")
          .get(sinceMicros, level);
    return (row as { n: number }).n;
  }
}
