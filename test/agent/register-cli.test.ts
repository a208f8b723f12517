// `relevo-agent register` from the sources: every way it can go wrong says so and exits non-zero, and
// writes no identity.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { agentSpec } from "../../src/agent/commands/install.ts";
import { readIdentity } from "../../src/agent/identity.ts";
import { BUN, freePort, REPO, startServer, tempDir } from "../helpers/server.ts";

async function agentCli(args: string[]) {
  const home = tempDir("relevo-home-");
  const proc = Bun.spawn([BUN, join(REPO, "src", "agent", "cli.ts"), ...args], {
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
const register = (args: string[]) => agentCli(["register", ...args]);

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
    expect(badToken.stderr).toContain("--enroll-token must be one word of printable ASCII");
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

  test("install --enroll-token hands the token to the service as a secret, never on its command line", () => {
    const spec = agentSpec(
      { url: "http://inv:5000", "enroll-token": "rlv_enroll" },
      { platform: "linux", cwd: "/work", env: {} },
    );
    expect(spec.secrets).toEqual([{ env: "RELEVO_ENROLL_TOKEN", value: "rlv_enroll" }]);
    expect(spec.args("/var/lib/relevo-agent").join(" ")).not.toContain("rlv_enroll");
    expect(() =>
      agentSpec({ url: "http://inv:5000", "enroll-token": "a b" }, { platform: "linux", cwd: "/", env: {} }),
    ).toThrow(/--enroll-token must be one word/);
  });

  test("run --enroll-token registers on the first start, then reports with the agent id", async () => {
    const data = tempDir("relevo-data-");
    const token = Bun.spawnSync(
      [BUN, join(REPO, "src", "server", "cli.ts"), "token", "create", "--role", "enroll", "--data", data],
      {
        cwd: REPO,
        stderr: "pipe",
      },
    );
    expect(token.exitCode).toBe(0);
    const server = await startServer([], data);
    try {
      const spool = join(tempDir("relevo-reg-"), "spool");
      const args = ["run", "--once", "--url", server.url, "--spool", spool, "--no-command-lines"];
      const first = await agentCli([...args, "--enroll-token", token.stdout.toString().trim()]);
      expect(first.code, first.stderr).toBe(0);
      const identity = readIdentity(join(spool, "agent-identity.json"));
      expect(identity?.agent_id).toBeGreaterThan(0);
      // Registered once: the second run uses the identity (a wrong enroll token is not even sent).
      const second = await agentCli([...args, "--enroll-token", "rlv_not_used"]);
      expect(second.code, second.stderr).toBe(0);
      expect(readIdentity(join(spool, "agent-identity.json"))).toEqual(identity);
      const files = Bun.spawnSync(["ls", data]).stdout.toString();
      expect(files).toMatch(/127\.0\.0\.1_\d{4}-\d{2}-\d{2}\.json/);
      const day = files.split("\n").find((name) => /^127\.0\.0\.1_.*\.json$/.test(name)) as string;
      const text = await Bun.file(join(data, day)).text();
      expect(text.split(`"id":"${identity?.agent_id}"`).length - 1).toBe(2);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
