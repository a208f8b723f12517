// One server per data directory: a lock file holding the owner's pid. A lock left by a process that is gone
// (killed, crashed) is taken over; a live owner makes the second server refuse to start.
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorCode } from "../../shared/errors.ts";
import { StoreLockedError } from "./types.ts";

export const LOCK_FILE = "relevo.lock";
const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM";
  }
}

export function acquireLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  if (heldHere.has(path)) throw new StoreLockedError(`data directory ${dir} is already open in this process`);
  const body = JSON.stringify({ pid: process.pid, since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, body, { flag: "wx", mode: 0o600 });
      heldHere.add(path);
      return () => release(path);
    } catch (error) {
      if (errorCode(error) !== "EEXIST") throw error;
      const owner = readOwner(path);
      if (owner && owner !== process.pid && isAlive(owner)) {
        throw new StoreLockedError(
          `data directory ${dir} is in use by another relevo-server (pid ${owner}); stop it or pass another --data`,
        );
      }
      // Stale: its owner is gone. Remove and try once more, so two starters cannot both take it.
      try {
        unlinkSync(path);
      } catch {}
    }
  }
  throw new StoreLockedError(`could not take the lock ${path}`);
}

function readOwner(path: string): number | null {
  try {
    const pid = (JSON.parse(readFileSync(path, "utf8")) as { pid?: unknown }).pid;
    return typeof pid === "number" ? pid : null;
  } catch {
    return null;
  }
}

function release(path: string): void {
  heldHere.delete(path);
  try {
    if (readOwner(path) === process.pid) unlinkSync(path);
  } catch {}
}
