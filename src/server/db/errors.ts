// What a failed SQLite call means for a request: a full disk, an I/O error or a read-only file is the
// store being unavailable (503, retry later); anything else is a bug and stays what it is.
import { StoreUnavailableError } from "../store/types.ts";

/** The start of the database cannot go on: printed as it is, the server does not start. */
export class StateDbError extends Error {
  override name = "StateDbError";
}

/** The data directory is on a read-only file system: nothing is wrong with the database itself. */
export class StateDbReadOnlyError extends StateDbError {
  override name = "StateDbReadOnlyError";
}

const UNAVAILABLE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|NOMEM|PROTOCOL)/;
const CORRUPT = /^SQLITE_(CORRUPT|NOTADB)/;

export function sqliteCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

export function isCorruption(error: unknown): boolean {
  return CORRUPT.test(sqliteCode(error));
}

/** Turns a write failure the client can retry into StoreUnavailableError; leaves other errors alone. */
export function asStoreError(error: unknown): unknown {
  const code = sqliteCode(error);
  if (code === "SQLITE_FULL") {
    return new StoreUnavailableError("the log database's disk is full; retry once there is space", code);
  }
  if (UNAVAILABLE.test(code) || CORRUPT.test(code)) {
    const message = error instanceof Error ? error.message : code;
    return new StoreUnavailableError(`the log database cannot be written now (${code}: ${message})`, code);
  }
  return error;
}
