// The reports table's day partitions: created ahead (yesterday to two days on, checked every hour) and on
// demand for a day not made yet, under a transaction-level advisory lock so two servers creating the same
// day do not collide. Retention and the archive drop or detach whole days.
import type { SQL } from "bun";

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** "partition" in ASCII: the lock key every server takes before creating one. */
export const PARTITION_LOCK_KEY = 0x706172746974;

export function partitionName(day: string): string {
  if (!DAY.test(day)) throw new Error(`not a day: ${day}`);
  return `reports_${day.replaceAll("-", "")}`;
}

function nextDay(day: string): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

/** `day` shifted by `delta` days. */
export function shiftDay(day: string, delta: number): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + delta);
  return date.toISOString().slice(0, 10);
}

export class Partitions {
  readonly #known = new Set<string>();

  constructor(private readonly sql: SQL) {}

  /** Makes sure the day's partition exists (a cached no-op once it does). */
  async ensure(day: string): Promise<void> {
    if (this.#known.has(day)) return;
    const name = partitionName(day);
    // Both names are built from a checked YYYY-MM-DD above, never from a request.
    await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK_KEY})`;
      await tx.unsafe(
        `CREATE TABLE IF NOT EXISTS ${name} PARTITION OF reports FOR VALUES FROM ('${day}') TO ('${nextDay(day)}')`,
      );
    });
    this.#known.add(day);
  }

  /** Forgets that a day's partition exists (it was dropped elsewhere): the next ensure() checks again. */
  forget(day: string): void {
    this.#known.delete(day);
  }

  /** Yesterday to `ahead` days after `today`. */
  async ensureAround(today: string, ahead = 2): Promise<void> {
    for (let delta = -1; delta <= ahead; delta++) await this.ensure(shiftDay(today, delta));
  }

  /** Removes a whole day: its partition and its day rows (retention, or after the archive took it). */
  async drop(day: string): Promise<void> {
    const name = partitionName(day);
    await this.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK_KEY})`;
      await tx.unsafe(`DROP TABLE IF EXISTS ${name}`);
      await tx`DELETE FROM report_days WHERE day = ${day}::date`;
    });
    this.#known.delete(day);
  }
}
