// One server per data directory: `relevo.lock`, held through a lock the kernel releases when the server dies
// (see shared/file-lock.ts). Its contents only say who holds it, for the message a second server prints.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tryLock } from "../../shared/file-lock.ts";
import { StoreLockedError } from "./types.ts";

export const LOCK_FILE = "relevo.lock";
const heldHere = new Set<string>();

export function acquireLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  if (heldHere.has(path)) throw new StoreLockedError(`data directory ${dir} is already open in this process`);
  const held = tryLock(path);
  if (!held) {
    const owner = readOwner(path);
    throw new StoreLockedError(
      `data directory ${dir} is in use by another relevo-server${owner ? ` (pid ${owner})` : ""}; stop it or pass another --data`,
    );
  }
  held.describe(`${JSON.stringify({ pid: process.pid, since: new Date().toISOString() })}\n`);
  heldHere.add(path);
  return () => {
    heldHere.delete(path);
    held.release();
  };
}

function readOwner(path: string): number | null {
  try {
    const pid = (JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown }).pid;
    return typeof pid === "number" ? pid : null;
  } catch {
    return null;
  }
}
