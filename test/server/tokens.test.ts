// The token commands as an operator runs them: in parallel, against a missing directory, and with a real server.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
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

describe("no-token mode never comes back by accident", () => {
  const post = (url: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${url}/upload`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: JSON.stringify(sampleReport()),
    });
  const hosts = (url: string, headers: Record<string, string> = {}) => fetch(`${url}/hosts`, { headers });
  /** Waits past the registry's 250 ms recheck of the token file. */
  const settle = () => Bun.sleep(400);

  test("revoking the last token, emptying tokens.json or deleting it keeps the door shut", async () => {
    const dir = tempDir();
    const created = await cli(["token", "create", "--role", "ingest", "--name", "agents", "--data", dir]);
    const token = created.stdout.trim().split("\n").at(-1) ?? "";
    const server = await startServer([], dir);
    servers.push(server);
    expect((await post(server.url, token)).status).toBe(201);
    expect((await cli(["token", "revoke", "agents", "--data", dir])).code).toBe(0);
    await settle();
    expect((await post(server.url, token)).status).toBe(401);
    expect((await post(server.url)).status).toBe(401);
    expect((await hosts(server.url)).status).toBe(401);
    await Bun.write(join(dir, "tokens.json"), '{"tokens":[]}\n');
    await settle();
    expect((await hosts(server.url)).status).toBe(401);
    rmSync(join(dir, "tokens.json"));
    await settle();
    expect((await hosts(server.url)).status).toBe(401);
    expect(await server.stop()).toBe(0);
    // And after a restart with no token at all: shut, and it says why.
    const again = await startServer([], dir);
    servers.push(again);
    for (let i = 0; i < 50 && !again.stderr().includes("no API token left"); i++) await Bun.sleep(20);
    expect(again.stderr()).toContain("no API token left");
    expect((await hosts(again.url)).status).toBe(401);
    expect((await post(again.url)).status).toBe(401);
  }, 30_000);

  test("a tokens.json from before the marker shuts the door for good too", async () => {
    const dir = tempDir();
    const created = await cli(["token", "create", "--role", "read", "--data", dir]);
    expect(created.code).toBe(0);
    rmSync(join(dir, "auth-required"));
    const server = await startServer([], dir);
    servers.push(server);
    writeFileSync(join(dir, "tokens.json"), '{"tokens":[]}\n');
    await settle();
    expect((await hosts(server.url)).status).toBe(401);
  });

  test("--no-auth still opens it on purpose", async () => {
    const dir = tempDir();
    expect((await cli(["token", "create", "--role", "read", "--data", dir])).code).toBe(0);
    writeFileSync(join(dir, "tokens.json"), '{"tokens":[]}\n');
    const server = await startServer(["--no-auth"], dir);
    servers.push(server);
    expect((await hosts(server.url)).status).toBe(200);
  });

  test("with --trust-proxy no token means no start, and revoking the last token shuts the door", async () => {
    const dir = tempDir();
    const refused = Bun.spawn(
      [BUN, CLI, "serve", "--port", "0", "--data", dir, "--trust-proxy", "127.0.0.1"],
      {
        stdout: "ignore",
        stderr: "pipe",
      },
    );
    expect(await refused.exited).toBe(1);
    expect(await new Response(refused.stderr).text()).toContain(
      "behind a proxy (--trust-proxy) with no API token",
    );
    const created = await cli(["token", "create", "--role", "read", "--name", "ops", "--data", dir]);
    const token = created.stdout.trim().split("\n").at(-1) ?? "";
    const server = await startServer(["--trust-proxy", "127.0.0.1"], dir);
    servers.push(server);
    const forwarded = { "x-forwarded-for": "203.0.113.9", authorization: `Bearer ${token}` };
    expect((await hosts(server.url, forwarded)).status).toBe(200);
    expect((await cli(["token", "revoke", "ops", "--data", dir])).code).toBe(0);
    await settle();
    expect((await hosts(server.url, forwarded)).status).toBe(401);
    expect((await hosts(server.url, { "x-forwarded-for": "203.0.113.9" })).status).toBe(401);
    expect((await hosts(server.url)).status).toBe(401);
  });

  test("a request through an undeclared proxy is not taken for loopback", async () => {
    const server = await startServer([]);
    servers.push(server);
    expect((await hosts(server.url)).status).toBe(200);
    for (const header of ["x-forwarded-for", "forwarded", "x-real-ip", "via"]) {
      const value =
        header === "forwarded" ? "for=203.0.113.9" : header === "via" ? "1.1 proxy" : "203.0.113.9";
      expect((await hosts(server.url, { [header]: value })).status).toBe(401);
      expect((await post(server.url, undefined, { [header]: value })).status).toBe(401);
    }
  });
});
