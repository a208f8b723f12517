// The token commands as an operator runs them: in parallel, against a missing directory, and with a real server.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sampleReport } from "../helpers/report.ts";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../helpers/server.ts";

const CLI = join(REPO, "src", "server", "cli.ts");

async function cli(args: string[]) {
  const proc = Bun.spawn([BUN, CLI, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}

const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe("token create", () => {
  test("12 in parallel: 12 printed, 12 stored, every one accepted by the server", async () => {
    const dir = tempDir();
    const runs = await Promise.all(
      Array.from({ length: 12 }, () => cli(["token", "create", "--role", "ingest", "--data", dir])),
    );
    expect(runs.map((r) => r.code)).toEqual(runs.map(() => 0));
    const printed = runs.map((r) => r.stdout.trim().split("\n").at(-1) ?? "");
    expect(new Set(printed).size).toBe(12);
    const stored = JSON.parse(readFileSync(join(dir, "tokens.json"), "utf8")).tokens as { name: string }[];
    expect(stored).toHaveLength(12);
    expect(new Set(stored.map((t) => t.name)).size).toBe(12);
    const server = await startServer([], dir);
    servers.push(server);
    const statuses = [];
    for (const token of printed) {
      const res = await fetch(`${server.url}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(sampleReport()),
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual(printed.map(() => 201));
    console.log(
      `12 parallel token create: ${printed.length} printed, ${stored.length} stored, ${statuses.length} accepted`,
    );
  }, 60_000);

  for (const command of [
    ["token", "create", "--role", "read"],
    ["token", "list"],
    ["token", "revoke", "ops"],
  ]) {
    test(`${command.slice(0, 2).join(" ")} with a missing --data directory says so and exits non-zero`, async () => {
      const missing = join(tempDir(), "nowhere");
      const run = await cli([...command, "--data", missing]);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(`--data ${missing}: no such directory`);
      expect(run.stderr).not.toContain("ENOENT");
      expect(run.stdout).toBe("");
    });
  }
});
