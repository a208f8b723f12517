// Versioned schema changes for the PostgreSQL backend. Every server runs them at start under one advisory
// lock, so servers starting together do not race: the first applies them, the others wait and find them
// done. Each step runs in its own transaction with its record in relevo_schema, so a crash mid-way leaves
// the old version; a server older than the schema refuses to start.
import type { SQL } from "bun";

export interface PgMigration {
  /** 1, 2, 3, ... in order; never renumbered once released. */
  version: number;
  name: string;
  up(sql: SQL): Promise<void>;
}

/** The advisory lock key: "relevo" in ASCII, one number every relevo server agrees on. */
const LOCK_KEY = 0x72656c65766f;

export class PgSchemaTooNewError extends Error {
  override name = "PgSchemaTooNewError";
}

export async function pgSchemaVersion(sql: SQL): Promise<number> {
  const [exists] = await sql`SELECT to_regclass('relevo_schema') IS NOT NULL AS present`;
  if (!exists?.present) return 0;
  const [row] = await sql`SELECT coalesce(max(version), 0)::int AS version FROM relevo_schema`;
  return Number(row?.version ?? 0);
}

/** Brings the database up to the newest migration; returns the versions this call applied. */
export async function migratePg(sql: SQL, migrations: readonly PgMigration[], now: Date): Promise<number[]> {
  migrations.forEach((step, index) => {
    if (step.version !== index + 1) throw new Error(`migration ${step.name} is numbered out of order`);
  });
  const latest = migrations.length;
  // A session lock on one reserved connection: held across the steps' transactions, released at the end
  // (or by the server if this process dies).
  const conn = await sql.reserve();
  try {
    await conn`SELECT pg_advisory_lock(${LOCK_KEY})`;
    try {
      await conn`CREATE TABLE IF NOT EXISTS relevo_schema (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`;
      const current = await pgSchemaVersion(conn);
      if (current > latest) {
        throw new PgSchemaTooNewError(
          `the database is at relevo schema version ${current}, newer than this relevo-server knows (${latest}): run the newer relevo-server it was last used with`,
        );
      }
      const applied: number[] = [];
      for (const step of migrations.slice(current)) {
        await conn.begin(async (tx) => {
          await step.up(tx as unknown as SQL);
          await tx`INSERT INTO relevo_schema (version, name, applied_at) VALUES (${step.version}, ${step.name}, ${now})`;
        });
        applied.push(step.version);
      }
      return applied;
    } finally {
      await conn`SELECT pg_advisory_unlock(${LOCK_KEY})`.catch(() => {});
    }
  } finally {
    conn.release();
  }
}
