// GET / on the real server: the seed log service's welcome and hint, as JSON, to anyone; the dashboard's page
// to a browser (test/server/dashboard.test.ts checks the page).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { jsonOf } from "../helpers/json.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { makeToken } from "../helpers/token-cli.ts";

let server: RunningServer;
beforeAll(async () => {
  const dir = tempDir();
  // Tokens exist, so every other endpoint asks for one: the welcome does not.
  await makeToken(dir, "read");
  server = await startServer([], dir);
});
afterAll(async () => {
  await server?.stop();
});

test("GET / with Accept: application/json answers the welcome, hint and endpoints without a token", async () => {
  const res = await fetch(`${server.url}/`, { headers: { accept: "application/json" } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = await jsonOf(res);
  expect(body.message).toMatch(/^relevo \d+\.\d+\.\d+/);
  expect(body.hint).toContain("POST /logs");
  expect(body.endpoints).toEqual(expect.arrayContaining(["POST /logs", "GET /logs", "GET /health"]));
  expect((await fetch(`${server.url}/hosts`)).status).toBe(401);
});

test("*/* and no Accept get the same JSON; a browser's text/html gets the dashboard, without a token", async () => {
  const json = await jsonOf(await fetch(`${server.url}/`, { headers: { accept: "application/json" } }));
  for (const accept of ["*/*", ""]) {
    const res = await fetch(`${server.url}/`, { headers: accept ? { accept } : {} });
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual(json);
  }
  const page = await fetch(`${server.url}/`, { headers: { accept: "text/html" } });
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toContain("text/html");
  expect(await page.text()).toContain('<div id="app">');
});

test("POST / is 405 with Allow", async () => {
  const res = await fetch(`${server.url}/`, { method: "POST" });
  expect(res.status).toBe(405);
  expect(res.headers.get("allow")).toBe("GET, HEAD");
  expect((await jsonOf(res)).error.code).toBe("method_not_allowed");
});
