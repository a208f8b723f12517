// Tokens on the real server: `logs` tokens bound to one service, `ingest` unbound, `read` for GET, both
// header schemes, and tokens brought from elsewhere with --value-stdin.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTokens } from "../../../src/server/auth/tokens.ts";
import { jsonOf } from "../../helpers/json.ts";
import { entry } from "../../helpers/logs.ts";
import { type RunningServer, startServer, tempDir } from "../../helpers/server.ts";
import { makeToken, tokenCli } from "../../helpers/token-cli.ts";

let server: RunningServer;
const t: Record<string, string> = {};
const BROUGHT = "legacy-static-token-0123456789";

beforeAll(async () => {
  const dir = tempDir();
  t.reports = await makeToken(dir, "logs", "--service", "reports", "--name", "reports-svc");
  t.ingest = await makeToken(dir, "ingest");
  t.read = await makeToken(dir, "read");
  const brought = await tokenCli(
    ["create", "--data", dir, "--role", "logs", "--service", "billing", "--value-stdin"],
    `${BROUGHT}\n`,
  );
  expect(brought.code).toBe(0);
  // The caller has the token already: it is not printed again.
  expect(brought.stdout).toBe("");
  server = await startServer([], dir);
});
afterAll(async () => {
  await server?.stop();
});

const post = (auth: string | null, body: unknown) =>
  fetch(`${server.url}/logs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(body),
  });
const get = (auth: string | null, query = "") =>
  fetch(`${server.url}/logs?${query}`, { headers: auth ? { authorization: auth } : {} });

describe("logs tokens on the real server", () => {
  test("a logs token writes its service with Token and with Bearer", async () => {
    const marker = `scheme-${Date.now()}`;
    for (const scheme of ["Token", "Bearer", "token"]) {
      const res = await post(`${scheme} ${t.reports}`, entry({ message: `${marker} ${scheme}` }));
      expect(res.status).toBe(201);
    }
    const page = await jsonOf(await get(`Token ${t.read}`, `q=${marker}&order=asc`));
    expect(page.logs.map((l: { message: string }) => l.message)).toEqual([
      `${marker} Token`,
      `${marker} Bearer`,
      `${marker} token`,
    ]);
  });

  test("an entry without service gets the token's; one naming another service is 403 and stores nothing", async () => {
    const marker = `bound-${Date.now()}`;
    const { service: _, ...bare } = entry({ message: `${marker} bare` });
    expect((await post(`Token ${t.reports}`, bare)).status).toBe(201);
    const mixed = await post(`Token ${t.reports}`, [
      entry({ message: `${marker} ok` }),
      entry({ service: "billing", message: `${marker} foreign` }),
    ]);
    expect(mixed.status).toBe(403);
    const body = await jsonOf(mixed);
    expect(body.error.code).toBe("forbidden");
    expect(body.error.message).toContain("only service reports");
    expect(body.error.message).toContain("entries 1 name another");
    const page = await jsonOf(await get(`Bearer ${t.read}`, `q=${marker}`));
    expect(page.logs.map((l: { service: string; message: string }) => [l.service, l.message])).toEqual([
      ["reports", `${marker} bare`],
    ]);
  });

  test("ingest tokens write any service, and still need a service in each entry", async () => {
    const marker = `ingest-${Date.now()}`;
    expect((await post(`Bearer ${t.ingest}`, entry({ service: "cron", message: marker }))).status).toBe(201);
    const { service: _, ...bare } = entry();
    const res = await post(`Bearer ${t.ingest}`, bare);
    expect(res.status).toBe(422);
    expect((await jsonOf(res)).error.details).toEqual([{ path: "service", message: "service is required" }]);
  });

  test("a token brought with --value-stdin works as it was configured", async () => {
    const marker = `brought-${Date.now()}`;
    expect(
      (await post(`Token ${BROUGHT}`, { ...entry({ message: marker }), service: "billing" })).status,
    ).toBe(201);
    expect((await post(`Token ${BROUGHT}`, entry({ message: marker }))).status).toBe(403);
    const page = await jsonOf(await get(`Token ${t.read}`, `q=${marker}`));
    expect(page.count).toBe(1);
    expect(page.logs[0].service).toBe("billing");
  });

  test("GET needs read; POST refuses read; no or a wrong token is 401", async () => {
    for (const writer of [t.reports, t.ingest]) {
      const res = await get(`Token ${writer}`);
      expect(res.status).toBe(403);
      expect((await jsonOf(res)).error.message).toContain("needs read");
    }
    const readPost = await post(`Token ${t.read}`, entry());
    expect(readPost.status).toBe(403);
    expect((await jsonOf(readPost)).error.message).toContain("needs logs or ingest");
    expect((await post(null, entry())).status).toBe(401);
    expect((await post("Token not-a-token-at-all-0000", entry())).status).toBe(401);
    expect((await get(null)).status).toBe(401);
  });
});

describe("token create for logs", () => {
  const dir = tempDir();
  test.each([
    [["--role", "logs"], "add --service NAME"],
    [["--role", "read", "--service", "reports"], "--service goes only with --role logs"],
    [["--role", "logs", "--service", ""], "1-128 characters"],
  ])("refuses %p", async (args, message) => {
    const result = await tokenCli(["create", "--data", dir, ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe("");
  });

  test("--value-stdin refuses a short token and stores nothing", async () => {
    const result = await tokenCli(
      ["create", "--data", dir, "--role", "read", "--value-stdin"],
      "short-token\n",
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("has 11 characters; it needs at least 16");
    expect((await tokenCli(["list", "--data", dir])).stdout).toContain("no tokens");
  });

  test("--value-stdin refuses a token that exists already", async () => {
    const value = "same-token-value-0123456789";
    expect((await tokenCli(["create", "--data", dir, "--role", "read", "--value-stdin"], value)).code).toBe(
      0,
    );
    const again = await tokenCli(["create", "--data", dir, "--role", "ingest", "--value-stdin"], value);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("exists already");
  });

  test("token list shows the bound service", async () => {
    await makeToken(dir, "logs", "--service", "reports", "--name", "rep");
    const { stdout } = await tokenCli(["list", "--data", dir]);
    expect(stdout).toMatch(/rep\s+logs\s+reports\s/);
  });
});

describe("the token file", () => {
  test("a logs token without its service (a hand edit) makes the file damaged, never an unbound writer", () => {
    const dir = tempDir();
    const hash = "0".repeat(64);
    const write = (entry: object) =>
      writeFileSync(join(dir, "tokens.json"), JSON.stringify({ tokens: [entry] }));
    write({ name: "x", role: "logs", hash, created_at: "2026-12-01T00:00:00Z" });
    expect(() => readTokens(dir)).toThrow("is damaged");
    write({ name: "x", role: "read", hash, created_at: "2026-12-01T00:00:00Z", service: "reports" });
    expect(() => readTokens(dir)).toThrow("is damaged");
    write({ name: "x", role: "logs", hash, created_at: "2026-12-01T00:00:00Z", service: "reports" });
    expect(readTokens(dir)[0]?.service).toBe("reports");
  });
});
