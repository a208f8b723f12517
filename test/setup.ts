// Preloaded by bun test (bunfig.toml). Two things every suite shares: quiet logs, and one temporary root.
import { afterAll } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setLogLevel } from "../src/shared/log.ts";

// Quiet the store and server logs in tests; RELEVO_TEST_LOGS=1 shows them.
setLogLevel(process.env.RELEVO_TEST_LOGS ? 4 : 0);

// Every temporary folder of the run (the suites' own and those of the servers, agents and builds they start,
// which inherit TMPDIR) lands under one root that is removed when the run ends.
// RELEVO_TEST_KEEP_TMP=1 keeps it for a look after a failure.
if (!process.env.RELEVO_TEST_TMP_ROOT) {
  const root = mkdtempSync(join(tmpdir(), "relevo-tests-"));
  // Enterable by other users: the install tests run the executables as an unprivileged user.
  chmodSync(root, 0o755);
  process.env.RELEVO_TEST_TMP_ROOT = root;
  process.env.TMPDIR = root;
  // A global afterAll in the preload runs once, after the last file (bun test emits no "exit" event).
  afterAll(() => {
    if (process.env.RELEVO_TEST_KEEP_TMP) return;
    try {
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    } catch (error) {
      // A folder still mounted (a fault test's tmpfs) or busy: say so rather than fail the run.
      console.error(`test temp root ${root} not fully removed: ${(error as Error).message}`);
    }
  });
}
