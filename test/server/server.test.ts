// The real server process on a free 127.0.0.1 port: bad input on purpose, and the day file must not move.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../helpers/server.ts";

let server: RunningServer;
let dayFile: string;
const ct = { "content-type": "application/json" };

beforeAll(async () => {
  server = await startServer(["--max-body", String(1024 * 1024)]);
  const res = await fetch(`${server.url}/upload`, {
    method: "POST",
    headers: ct,
    body: JSON.stringify(sampleReport()),
  });
  expect(res.status).toBe(201);
  dayFile = join(server.dataDir, (await jsonOf(res)).stored.file);
});

afterAll(async () => {
  expect(await server.stop()).toBe(0);
});

describe("the server rejects bad input and keeps what it stored", () => {
  const report = () => JSON.stringify(sampleReport());
  const cases: Array<[string, () => RequestInit, number]> = [
    ["truncated JSON", () => ({ method: "POST", headers: ct, body: report().slice(0, 500) }), 400],
    ["an empty body", () => ({ method: "POST", headers: ct, body: "" }), 400],
    [
      "text/plain",
      () => ({ method: "POST", headers: { "content-type": "text/plain" }, body: report() }),
      415,
    ],
    ["no content type", () => ({ method: "POST", body: new Uint8Array([1, 2, 3]) }), 415],
    [
      "a schema violation",
      () => ({ method: "POST", headers: ct, body: JSON.stringify({ ...sampleReport(), schema_version: 2 }) }),
      422,
    ],
    [
      "a too-long string",
      () => ({
        method: "POST",
        headers: ct,
        body: JSON.stringify({
          ...sampleReport(),
          host: { hostname: "x".repeat(10_000), fqdn: "", ips: [] },
        }),
      }),
      422,
    ],
    [
      "a huge number",
      () => ({
        method: "POST",
        headers: ct,
        body: report().replace(/"total_bytes":\d+/, '"total_bytes":1e400'),
      }),
      422,
    ],
    [
      "deep nesting",
      () => ({ method: "POST", headers: ct, body: `{"x":${"[".repeat(50_000)}${"]".repeat(50_000)}}` }),
      400,
    ],
    ["an oversized body", () => ({ method: "POST", headers: ct, body: "x".repeat(2 * 1024 * 1024) }), 413],
    [
      "a gzip bomb",
      () => ({
        method: "POST",
        headers: { ...ct, "content-encoding": "gzip" },
        body: gzipSync(Buffer.alloc(32 * 1024 * 1024)),
      }),
      413,
    ],
    [
      "broken gzip",
      () => ({
        method: "POST",
        headers: { ...ct, "content-encoding": "gzip" },
        body: gzipSync(report()).subarray(0, 200),
      }),
      400,
    ],
    ["PUT", () => ({ method: "PUT", headers: ct, body: report() }), 405],
  ];
  for (const [what, init, status] of cases) {
    test(`${what}: ${status} with a JSON error, day file unchanged`, async () => {
      const before = readFileSync(dayFile);
      const res = await fetch(`${server.url}/upload`, init());
      expect(res.status).toBe(status);
      const body = await jsonOf(res);
      expect(typeof body.error.code).toBe("string");
      expect(typeof body.error.message).toBe("string");
      expect(readFileSync(dayFile)).toEqual(before);
    });
  }

  const paths = [
    "/query?ip=..%2F..%2Fetc%2Fpasswd",
    "/query?ip=127.0.0.1%00.json",
    "/query?ip=127.0.0.1&date=2026-11-23%2F..%2F..",
    "/query?ip=127.0.0.1&date=..%5C..%5Cwindows",
    "/files?date=9999-99-99",
  ];
  for (const path of paths) {
    test(`${path}: 400, nothing read from outside the store`, async () => {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(400);
      expect((await jsonOf(res)).error).toBeDefined();
    });
  }

  test("still serves the accepted report afterwards", async () => {
    const res = await fetch(`${server.url}/query?ip=127.0.0.1`);
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toHaveLength(1);
    expect((await jsonOf(await fetch(`${server.url}/health`))).status).toBe("ok");
  });
});

describe("process lifecycle", () => {
  test("a second server on the same data directory refuses to start", async () => {
    const proc = Bun.spawn(
      [BUN, join(REPO, "src/server/cli.ts"), "serve", "--port", "0", "--data", server.dataDir],
      {
        stderr: "pipe",
        stdout: "ignore",
      },
    );
    const code = await proc.exited;
    expect(code).not.toBe(0);
    expect(await new Response(proc.stderr).text()).toContain("in use by another relevo-server");
  });

  test("SIGTERM during uploads: in-flight writes finish, exit 0, nothing torn", async () => {
    const s = await startServer();
    const acked: string[] = [];
    const uploads = Array.from({ length: 40 }, async () => {
      const report = sampleReport();
      try {
        const res = await fetch(`${s.url}/upload`, {
          method: "POST",
          headers: ct,
          body: JSON.stringify(report),
        });
        if (res.status === 201) acked.push(report.report_id);
      } catch {}
    });
    await Bun.sleep(20);
    expect(await s.stop("SIGTERM")).toBe(0);
    await Promise.all(uploads);
    const restarted = await startServer([], s.dataDir);
    const stored = (await jsonOf(await fetch(`${restarted.url}/query?ip=127.0.0.1`))) as {
      report_id: string;
    }[];
    await restarted.stop();
    const ids = new Set(stored.map((r) => r.report_id));
    for (const id of acked) expect(ids.has(id)).toBe(true);
    expect(ids.size).toBe(stored.length);
  });

  test("bad flags exit non-zero with a message", async () => {
    const proc = Bun.spawn(
      [BUN, join(REPO, "src/server/cli.ts"), "serve", "--fsync", "sometimes", "--data", tempDir()],
      {
        stderr: "pipe",
      },
    );
    expect(await proc.exited).toBe(1);
    expect(await new Response(proc.stderr).text()).toContain("--fsync must be always or never");
  });
});
