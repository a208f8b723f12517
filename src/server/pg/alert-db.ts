// The alerts' state and webhook outbox in PostgreSQL, shared by several servers. Each transition is a
// conditional write (fire only what is not firing, resolve only the firing row the engine saw), in one
// transaction with its deliveries, so two servers hearing the same breach announce it once. Deliveries are
// claimed with FOR UPDATE SKIP LOCKED and leased, so one server sends each; a server that dies mid-send
// leaves it to be sent again once the lease ends. The timed rules run on one server at a time: the holder of
// a session advisory lock, which PostgreSQL releases when that server's connection ends.
import type { ReservedSQL, SQL } from "bun";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { AlertChange, AlertRow, AlertState, OutboxRow } from "../alerts/alert-db.ts";

const alertLog = logger("alerts");
/** "rela" in ASCII: the evaluator's lock (the migrations use another key). Below 2^31, so pg_locks shows it whole. */
const LEADER_KEY = 0x72656c61;
/** How long a claimed delivery is this server's alone: past the webhook timeout (10 s). */
const LEASE_MS = 30_000;

interface RawAlert {
  rule: string;
  subject: string;
  state: "firing" | "resolved";
  severity: string;
  started_at: string | number;
  resolved_at: string | number | null;
  updated_at: string | number;
  value: number | null;
  message: string;
}

function alertOf(raw: RawAlert): AlertRow {
  return {
    ...raw,
    started_at: Number(raw.started_at),
    resolved_at: raw.resolved_at === null ? null : Number(raw.resolved_at),
    updated_at: Number(raw.updated_at),
  };
}

export class PgAlertDb implements AlertState {
  readonly shared = true;
  /** The connection that holds the evaluator's lock, while this server holds it. */
  #leader: ReservedSQL | null = null;
  #closed = false;

  constructor(private readonly sql: SQL) {}

  async firing(): Promise<AlertRow[]> {
    const rows: RawAlert[] = await this
      .sql`SELECT * FROM alerts WHERE state = 'firing' ORDER BY started_at, rule, subject`;
    return rows.map(alertOf);
  }

  async recent(limit: number): Promise<AlertRow[]> {
    const rows: RawAlert[] = await this.sql`SELECT * FROM alerts WHERE state = 'resolved'
      ORDER BY resolved_at DESC, rule, subject LIMIT ${limit}`;
    return rows.map(alertOf);
  }

  async change(changes: readonly AlertChange[]): Promise<readonly AlertChange[]> {
    if (changes.length === 0) return [];
    // One order for every server's transactions, so two writing the same alerts cannot deadlock.
    const ordered = [...changes].sort((a, b) =>
      a.row.rule === b.row.rule ? (a.row.subject < b.row.subject ? -1 : 1) : a.row.rule < b.row.rule ? -1 : 1,
    );
    return await this.sql.begin(async (tx) => {
      const applied: AlertChange[] = [];
      for (const change of ordered) {
        const { row, previous } = change;
        const won: unknown[] =
          row.state === "firing"
            ? await tx`INSERT INTO alerts
                  (rule, subject, state, severity, started_at, resolved_at, updated_at, value, message)
                VALUES (${row.rule}, ${row.subject}, 'firing', ${row.severity}, ${row.started_at},
                  ${row.resolved_at}, ${row.updated_at}, ${row.value}, ${row.message})
                ON CONFLICT (rule, subject) DO UPDATE SET state = excluded.state, severity = excluded.severity,
                  started_at = excluded.started_at, resolved_at = excluded.resolved_at,
                  updated_at = excluded.updated_at, value = excluded.value, message = excluded.message
                WHERE alerts.state = 'resolved'
                RETURNING rule`
            : await tx`UPDATE alerts SET state = 'resolved', resolved_at = ${row.resolved_at},
                  updated_at = ${row.updated_at}
                WHERE rule = ${row.rule} AND subject = ${row.subject} AND state = 'firing'
                  AND started_at = ${previous?.started_at ?? row.started_at}
                RETURNING rule`;
        if (won.length === 0) continue;
        for (const { webhook, body } of change.deliveries) {
          await tx`INSERT INTO alert_outbox (webhook, body, created_at, attempts, next_at)
            VALUES (${webhook}, ${body}, ${row.updated_at}, 0, ${row.updated_at})`;
        }
        applied.push(change);
      }
      return applied;
    });
  }

  async due(now: number, limit: number): Promise<OutboxRow[]> {
    const rows: { id: string; webhook: string; body: string; attempts: number; next_at: string }[] =
      await this.sql`UPDATE alert_outbox SET next_at = ${now + LEASE_MS}
        WHERE id IN (SELECT id FROM alert_outbox WHERE next_at <= ${now} ORDER BY id LIMIT ${limit}
          FOR UPDATE SKIP LOCKED)
        RETURNING id, webhook, body, attempts, next_at`;
    return rows
      .map((row) => ({ ...row, id: Number(row.id), next_at: Number(row.next_at) }))
      .sort((a, b) => a.id - b.id);
  }

  async nextDue(): Promise<number | null> {
    const [row] = await this.sql`SELECT min(next_at) AS n FROM alert_outbox`;
    return row?.n === null || row?.n === undefined ? null : Number(row.n);
  }

  async pending(): Promise<number> {
    const [row] = await this.sql`SELECT count(*)::int AS n FROM alert_outbox`;
    return Number(row?.n ?? 0);
  }

  async delivered(id: number): Promise<void> {
    await this.sql`DELETE FROM alert_outbox WHERE id = ${id}`;
  }

  async retryLater(id: number, attempts: number, nextAt: number): Promise<void> {
    await this.sql`UPDATE alert_outbox SET attempts = ${attempts}, next_at = ${nextAt} WHERE id = ${id}`;
  }

  async logCount(level: number, sinceMicros: number, service: string | undefined): Promise<number> {
    const [row] = service
      ? await this.sql`SELECT count(*)::int AS n FROM logs
          WHERE received >= ${sinceMicros} AND level >= ${level} AND service = ${service}`
      : await this
          .sql`SELECT count(*)::int AS n FROM logs WHERE received >= ${sinceMicros} AND level >= ${level}`;
    return Number(row?.n ?? 0);
  }

  /** True while this server holds the evaluator's lock; tries to take it when it does not. */
  async lead(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      this.#leader ??= await this.sql.reserve();
      // Held already (its session alive), or taken now: never stacked, so one unlock would free it.
      const [row] = await this.#leader`SELECT CASE
          WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
            AND classid = 0 AND objid = ${LEADER_KEY} AND objsubid = 1 AND granted) THEN true
          ELSE pg_try_advisory_lock(${LEADER_KEY}) END AS held`;
      const held = row?.held === true;
      if (!held) this.#drop();
      return held;
    } catch (error) {
      // The session (and so the lock) is gone: another server may take over; this one tries again later.
      alertLog.warn(`alert evaluator lock lost: ${errorMessage(error)}`);
      this.#drop();
      return false;
    }
  }

  #drop(): void {
    this.#leader?.release();
    this.#leader = null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const leader = this.#leader;
    this.#leader = null;
    if (!leader) return;
    await leader`SELECT pg_advisory_unlock_all()`.catch(() => {});
    leader.release();
  }
}
