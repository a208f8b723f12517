// What a failed PostgreSQL call means for a request: the database unreachable, restarting, out of room,
// cancelled by the statement timeout or a deadlock lost is the store being unavailable (503, retry later);
// anything else is a bug and stays what it is.
import { errorMessage } from "../../shared/errors.ts";
import { StoreUnavailableError } from "../store/types.ts";

/** SQLSTATE classes that are the database's condition, not the request's: connection, resources, operator, system. */
const UNAVAILABLE_CLASSES = ["08", "53", "57", "58", "40", "XX", "25"];

/** The SQLSTATE of a server error (Bun puts it in errno), or "". */
export function sqlState(error: unknown): string {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === "string" ? errno : "";
}

export function isUnavailable(error: unknown): boolean {
  if (error instanceof StoreUnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("ERR_POSTGRES_")) return false;
  if (code !== "ERR_POSTGRES_SERVER_ERROR") return true;
  return UNAVAILABLE_CLASSES.includes(sqlState(error).slice(0, 2));
}

/** A database failure as the 503 the API answers; other errors unchanged. */
export function asUnavailable(error: unknown, what = "the database"): unknown {
  if (error instanceof StoreUnavailableError) return error;
  if (!isUnavailable(error)) return error;
  const state = sqlState(error);
  const why =
    state === "57014"
      ? "a statement took longer than the statement timeout"
      : `${what} cannot be reached or is restarting (${errorMessage(error)})`;
  return new StoreUnavailableError(why, state || (error as { code?: string }).code);
}
