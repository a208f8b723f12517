// A child process for the lock tests: `_lock-child.ts DIR [AT]` waits until the epoch millisecond AT (so many
// children try at the same instant), tries the data directory's lock once, prints "won PID" or "locked", and
// if it won holds the lock until SIGTERM or SIGKILL.
import { acquireLock } from "../../src/server/store/lock.ts";

const [dir, at] = process.argv.slice(2);
if (!dir) throw new Error("usage: _lock-child.ts DIR [AT]");
const wait = Number(at ?? 0) - Date.now();
if (wait > 0) await Bun.sleep(wait);
let release: (() => void) | undefined;
try {
  release = acquireLock(dir);
} catch (error) {
  if ((error as Error).name !== "StoreLockedError") throw error;
}
if (release) {
  const hold = setInterval(() => {}, 60_000);
  process.once("SIGTERM", () => {
    release?.();
    clearInterval(hold);
  });
}
console.log(release ? `won ${process.pid}` : "locked");
