// Versioned schema changes for relevo.db, one mechanism for every table the server keeps there (logs now;
// agents, software lists and the archive manifest later). The version is SQLite's user_version; each step
// runs in its own transaction together with the version bump, so a crash mid-way leaves the old version.
import type { Database } from "bun:sqlite";

export interface Migration {
  /** 1, 2, 3, ... in order; never renumbered once released. */
  version: number;
  name: string;
  up(db: Database): void;
}

export class SchemaTooNewError extends Error {
  override name = "SchemaTooNewError";
}

export function schemaVersion(db: Database): number {
  return (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
}

/** Brings the database up to the newest migration; returns the versions applied. */
export function migrate(db: Database, migrations: readonly Migration[], now: Date): number[] {
  // Ascending, gaps allowed: features are built side by side, each with its own number.
  migrations.forEach((step, index) => {
    const previous = index === 0 ? 0 : (migrations[index - 1]?.version ?? 0);
    if (step.version <= previous) throw new Error(`migration ${step.name} is numbered out of order`);
  });
  const latest = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  if (current > latest) {
    throw new SchemaTooNewError(
      `the database is at schema version ${current}, newer than this relevo-server knows (${latest}): run the newer relevo-server it was last opened with`,
    );
  }
  const applied: number[] = [];
  for (const step of migrations.filter((one) => one.version > current)) {
    db.transaction(() => {
      db.run(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
      );
      step.up(db);
      db.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        step.version,
        step.name,
        now.toISOString(),
      );
      // PRAGMA takes no bound parameters; the version is our own integer.
      db.run(`PRAGMA user_version = ${Math.trunc(step.version)}`);
    }).immediate();
    applied.push(step.version);
  }
  return applied;
}
