// The quick start (`npm start` runs scripts/dev.ts): a server and a real agent, reports arriving, and a
// clean stop of both on SIGTERM.
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/server.ts";
import { freePort, tempDir, waitFor } from "./_helpers.ts";

const dir = tempDir("relevo-dev-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Windows has no SIGTERM to catch: there a kill ends the process at once.
test.skipIf(process.platform === "win32")(
  "npm start: reports arrive every interval; SIGTERM stops agent and server, exit 0",
  async () => {
    const port = freePort();
    const dev = Bun.spawn(
      [
        process.execPath,
        join(REPO, "scripts", "dev.ts"),
        "--port",
        String(port),
        "--data",
        join(dir, "data"),
        "--spool",
        join(dir, "spool"),
        "--interval",
        "1",
      ],
      { cwd: REPO, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const stderr = new Response(dev.stderr).text();
    try {
      const count = async () => {
        const res = await fetch(`http://127.0.0.1:${port}/query?ip=127.0.0.1`).catch(() => undefined);
        return res?.ok ? ((await res.json()) as unknown[]).length : 0;
      };
      await waitFor("two reports", async () => (await count()) >= 2, 30_000);
      dev.kill("SIGTERM");
      expect(await dev.exited).toBe(0);
      const log = await stderr;
      expect(log).toContain(`curl 'http://127.0.0.1:${port}/query?ip=127.0.0.1'`);
      expect(log).toContain("[agent]");
      expect(log).toMatch(/\[server\].* stopped\n/);
      // Nothing listens any more.
      expect(await fetch(`http://127.0.0.1:${port}/health`).catch(() => "down")).toBe("down");
    } finally {
      dev.kill("SIGKILL");
    }
  },
  60_000,
);
