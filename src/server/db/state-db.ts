// The server's embedded state database, <data>/relevo.db: WAL with synchronous=FULL (a commit is on disk
// before anyone hears of it), mode 0600, migrated at start. A database that cannot be read, is not SQLite
// or fails its check makes the start fail with what to do: it is never deleted or recreated behind the
// operator's back.
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { errorCode, errorMessage } from "../../shared/errors.ts";
import { StateDbError, StateDbReadOnlyError } from "./errors.ts";
import { type Migration, migrate } from "./migrations.ts";
import { MIGRATIONS } from "./schema.ts";

export const STATE_DB_FILE = "relevo.db";
const HEADER = "SQLite format 3\0";

export interface StateDb {
  readonly db: Database;
  readonly path: string;
  /** Schema versions this start applied (empty when the database was current). */
  readonly migrated: number[];
  close(): void;
}

export interface OpenStateDbOptions {
  now: Date;
  migrations?: readonly Migration[];
  /** Page cache in KiB (default 32 MiB): the log indexes of a few million entries stay in memory. */
  cacheKib?: number;
  /** Databases up to this size get a full page check at start (default 256 MiB). */
  checkBytes?: number;
}

function refuse(path: string, why: string): StateDbError {
  return new StateDbError(
    `${path} cannot be used: ${why}. It was left untouched: restore it from a backup, or move it aside to start with an empty database`,
  );
}

/** Checks what can be checked before SQLite touches the file, or creates it empty with mode 0600. */
function prepareFile(path: string): void {
  const readOnly = (error: unknown) =>
    new StateDbReadOnlyError(
      `${path} cannot be written: the file system is read-only (${errorMessage(error)})`,
    );
  if (!existsSync(path)) {
    try {
      closeSync(openSync(path, "wx", 0o600));
    } catch (error) {
      if (errorCode(error) === "EROFS") throw readOnly(error);
      throw refuse(path, `it cannot be created (${errorMessage(error)})`);
    }
    return;
  }
  let fd: number;
  try {
    if (!statSync(path).isFile()) throw refuse(path, "it is not a regular file");
    fd = openSync(path, "r+");
  } catch (error) {
    if (error instanceof StateDbError) throw error;
    if (errorCode(error) === "EROFS") throw readOnly(error);
    throw refuse(path, `it cannot be opened for reading and writing (${errorMessage(error)})`);
  }
  try {
    const head = Buffer.alloc(HEADER.length);
    const read = readSync(fd, head, 0, head.length, 0);
    if (read > 0 && head.toString("latin1", 0, read) !== HEADER)
      throw refuse(path, "it is not an SQLite database");
  } finally {
    closeSync(fd);
  }
}

export function openStateDb(dataDir: string, options: OpenStateDbOptions): StateDb {
  const path = join(dataDir, STATE_DB_FILE);
  prepareFile(path);
  let db: Database;
  try {
    db = new Database(path, { readwrite: true, create: false, strict: true });
  } catch (error) {
    throw refuse(path, errorMessage(error));
  }
  try {
    db.run("PRAGMA busy_timeout = 5000");
    // Page-level damage shows here, not at open: a quick pass over every page (no index cross-check),
    // before anything is written, so a refused file is left exactly as it was. It costs about 1 s per
    // 130 MB here, so bigger databases only get their schema read; damage found later answers 503.
    db.query("SELECT count(*) FROM sqlite_master").get();
    if (statSync(path).size <= (options.checkBytes ?? 256 * 1024 * 1024)) {
      const check = db.query("PRAGMA quick_check(1)").get() as { quick_check: string };
      if (check.quick_check !== "ok") throw refuse(path, `its integrity check failed (${check.quick_check})`);
    }
    const mode = db.query("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
    if (mode.journal_mode !== "wal")
      throw refuse(path, `it cannot switch to WAL mode (${mode.journal_mode})`);
    db.run("PRAGMA synchronous = FULL");
    db.run(`PRAGMA cache_size = -${Math.trunc(options.cacheKib ?? 32 * 1024)}`);
    db.run("PRAGMA temp_store = MEMORY");
    const migrated = migrate(db, options.migrations ?? MIGRATIONS, options.now);
    // Log messages name hosts and users: the server's alone, whatever mode a restored copy came with. Not on
    // Windows, where the data directory's ACL decides and chmod only fails (EBUSY) on a -shm still held open
    // by a server that just stopped.
    if (process.platform !== "win32")
      for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
    return { db, path, migrated, close: () => db.close() };
  } catch (error) {
    db.close();
    if (error instanceof StateDbError) throw error;
    throw refuse(path, errorMessage(error));
  }
}
