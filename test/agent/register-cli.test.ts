// `relevo-agent register` from the sources: every way it can go wrong says so and exits non-zero, and
// writes no identity.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUN, freePort, REPO, startServer, tempDir } from "../helpers/server.ts";

async function register(args: string[]) {
  const home = tempDir("relevo-home-");
  const proc = Bun.spawn([BUN, join(REPO, "src", "agent", "cli.ts"), "register", ...args], {
    cwd: REPO,
    env: { ...process.env, XDG_CONFIG_HOME: home, XDG_STATE_HOME: home, RELEVO_URL: "", RELEVO_TOKEN: "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { code: await proc.exited, stdout, stderr };
}

describe("relevo-agent register", () => {
  test("without --url, with a malformed token, or with no server: a clear error, no identity", async () => {
    const spool = join(tempDir("relevo-reg-"), "spool");
    const noUrl = await register(["--spool", spool]);
    expect(noUrl.code).not.toBe(0);
    expect(noUrl.stderr).toContain("register needs --url");
    const badToken = await register([
      "--url",
      "http://127.0.0.1:9",
      "--enroll-token",
      "a b",
      "--spool",
      spool,
    ]);
    expect(badToken.code).not.toBe(0);
    expect(badToken.stderr).toContain("--enroll-token must be one word");
    const away = await register([
      "--url",
      `http://127.0.0.1:${freePort()}`,
      "--spool",
      spool,
      "--timeout",
      "5",
    ]);
    expect(away.code).not.toBe(0);
    expect(away.stderr).toContain("cannot reach http://127.0.0.1:");
    expect(existsSync(join(spool, "agent-identity.json"))).toBe(false);
  }, 30_000);

  test("registers with an open loopback server; again, the same machine keeps its id", async () => {
    const server = await startServer();
    try {
      const spool = join(tempDir("relevo-reg-"), "spool");
      const first = await register(["--url", server.url, "--spool", spool]);
      expect(first.code).toBe(0);
      const second = await register(["--url", server.url, "--spool", spool]);
      expect(second.code).toBe(0);
      expect(second.stdout.trim()).toBe(first.stdout.trim());
      expect(existsSync(join(spool, "agent-identity.json"))).toBe(true);
    } finally {
      await server.stop();
    }
  }, 30_000);
});
