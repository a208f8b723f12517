// A lock file on the spool directory so two agents never send the same spooled report. The file holds the
// owner's pid (and, on Linux, the boot id and the process start time, so a pid reused after a reboot or a
// container restart does not look alive). A lock whose owner is gone is taken over with a log line.
//
// The lock is created whole with link(2) from a temp file: another agent never sees a half-written lock.
// Two agents taking over the same stale lock in the same instant could both win; the worst that does is send
// a report twice, which the server's report_id dedup absorbs.
import { readFileSync } from "node:fs";
import { link, open, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { errorCode } from "../shared/errors.ts";

export const LOCK_FILE = "agent.lock";

export interface LockOwner {
  pid: number;
  /** /proc/sys/kernel/random/boot_id on Linux. */
  boot?: string;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot when the process started. */
  start?: string;
  since?: string;
}

export class SpoolLockedError extends Error {
  override name = "SpoolLockedError";
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `the spool ${dir} is in use by another relevo-agent (pid ${owner.pid}${owner.since ? `, since ${owner.since}` : ""}); ` +
        "stop that agent or give this one its own --spool",
    );
  }
}

export interface SpoolLock {
  path: string;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** Takes the lock on `dir`; `onStale` hears about a dead owner's lock being taken over. */
export async function lockSpool(
  dir: string,
  now: () => number,
  onStale: (owner: LockOwner | undefined) => void,
): Promise<SpoolLock> {
  const path = join(dir, LOCK_FILE);
  const me = selfIdentity(now);
  const temp = join(dir, `.${LOCK_FILE}.${process.pid}.new`);
  const handle = await open(temp, "w", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(me)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await createWhole(temp, path, me);
        return { path, release: () => releaseLock(path, me) };
      } catch (error) {
        if (errorCode(error) !== "EEXIST") throw error;
      }
      const owner = await readOwner(path);
      if (owner && isAlive(owner)) throw new SpoolLockedError(dir, owner);
      if (attempt >= 3) throw new Error(`cannot take the lock ${path}: it keeps coming back`);
      onStale(owner);
      await unlink(path).catch((error) => {
        if (errorCode(error) !== "ENOENT") throw error;
      });
    }
  } finally {
    await unlink(temp).catch(() => {});
  }
}

/** link(2) the finished temp file into place; where hard links are not supported, an exclusive create. */
async function createWhole(temp: string, path: string, me: LockOwner): Promise<void> {
  try {
    await link(temp, path);
  } catch (error) {
    const code = errorCode(error);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS" && code !== "EOPNOTSUPP") throw error;
    const handle = await open(path, "wx", 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(me)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

async function releaseLock(path: string, me: LockOwner): Promise<void> {
  const owner = await readOwner(path);
  if (owner && owner.pid === me.pid && owner.start === me.start) {
    await unlink(path).catch(() => {});
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as LockOwner;
    return Number.isInteger(parsed.pid) && parsed.pid > 0 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function selfIdentity(now: () => number): LockOwner {
  const owner: LockOwner = { pid: process.pid, since: new Date(now()).toISOString() };
  const boot = bootId();
  const start = startTicks(process.pid);
  if (boot) owner.boot = boot;
  if (start) owner.start = start;
  return owner;
}

/** Whether the lock's owner still runs: its pid exists and, where we can tell, is the same process. */
function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if (errorCode(error) !== "EPERM") return false;
  }
  if (owner.boot && bootId() && owner.boot !== bootId()) return false;
  if (owner.start) {
    const start = startTicks(owner.pid);
    if (start && start !== owner.start) return false;
  }
  return true;
}

function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
