// A child process for the spool tests: `hold DIR` takes the spool's lock and waits; `write DIR` adds
// entries as fast as it can (to be killed with SIGKILL mid-write). Prints "ready" once it holds the lock.
import { Spool } from "../../src/agent/spool.ts";

const [mode, dir] = process.argv.slice(2);
if (!dir || (mode !== "hold" && mode !== "write")) throw new Error("usage: _spool-child.ts hold|write DIR");
const quiet = { info() {}, warn() {}, error() {}, debug() {}, success() {} };
const spool = await Spool.open({
  dir,
  maxReports: 50,
  maxBytes: 64 * 1024 * 1024,
  now: Date.now,
  log: quiet,
});
console.log("ready");
if (mode === "hold") {
  setInterval(() => {}, 60_000);
} else {
  for (let i = 0; ; i++) {
    // 64 KiB to 1 MiB of incompressible bytes: each write takes long enough to be cut in the middle.
    const payload = crypto.getRandomValues(new Uint8Array(65_536 * (1 + (i % 16))));
    await spool.add(Bun.randomUUIDv7(), payload);
  }
}
