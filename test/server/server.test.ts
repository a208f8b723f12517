// The real server process on a free 127.0.0.1 port: bad input on purpose, and the day file must not move.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { forEachBackend } from "../helpers/backends.ts";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../helpers/server.ts";

const ct = { "content-type": "application/json" };

forEachBackend((backend) => {
  let server: RunningServer;
  let dayFile: string;
  /** What is stored: the day file's bytes, or the same day as /query answers it from PostgreSQL. */
  const snapshot = async () =>
    backend.name === "file"
      ? readFileSync(dayFile).toString("utf8")
      : await (await fetch(`${server.url}/query?ip=127.0.0.1`)).text();

  beforeAll(async () => {
    server = await startServer(["--max-body", String(1024 * 1024), ...(await backend.serverArgs())]);
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
        () => ({
          method: "POST",
          headers: ct,
          body: JSON.stringify({ ...sampleReport(), schema_version: 2 }),
        }),
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
        const before = await snapshot();
        const res = await fetch(`${server.url}/upload`, init());
        expect(res.status).toBe(status);
        const body = await jsonOf(res);
        expect(typeof body.error.code).toBe("string");
        expect(typeof body.error.message).toBe("string");
        expect(await snapshot()).toEqual(before);
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
    test("SIGTERM during uploads: in-flight writes finish, exit 0, nothing torn", async () => {
      const args = await backend.serverArgs();
      const s = await startServer(args);
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
      const restarted = await startServer(args, s.dataDir);
      const res = await fetch(`${restarted.url}/query?ip=127.0.0.1`);
      // 404: nothing was stored before the stop (on a slow machine no upload got that far).
      const stored = (res.status === 404 ? [] : await jsonOf(res)) as { report_id: string }[];
      await restarted.stop();
      if (res.status === 404) expect(acked).toEqual([]);
      const ids = new Set(stored.map((r) => r.report_id));
      for (const id of acked) expect(ids.has(id)).toBe(true);
      expect(ids.size).toBe(stored.length);
    });
  });
});

describe("process lifecycle", () => {
  test("a second server on the same data directory refuses to start", async () => {
    const server = await startServer();
    const proc = Bun.spawn(
      [BUN, join(REPO, "src/server/cli.ts"), "serve", "--port", "0", "--data", server.dataDir],
      {
        stderr: "pipe",
        stdout: "ignore",
      },
    );
    const code = await proc.exited;
    await server.stop();
    expect(code).not.toBe(0);
    expect(await new Response(proc.stderr).text()).toContain("in use by another relevo-server");
  });

  test("SIGTERM with a body trickling in: the stop is bounded, exit 0, the report before it kept", async () => {
    const s = await startServer();
    const first = sampleReport();
    const stored = await fetch(`${s.url}/upload`, {
      method: "POST",
      headers: ct,
      body: JSON.stringify(first),
    });
    expect(stored.status).toBe(201);
    // An upload that declares 100 KB and sends a few bytes: without a bound the stop would wait for it.
    const socket = connect(s.port, "127.0.0.1");
    await new Promise<void>((done) => socket.once("connect", () => done()));
    socket.write(
      "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
    );
    socket.on("error", () => {});
    await Bun.sleep(200);
    const started = performance.now();
    expect(await s.stop("SIGTERM")).toBe(0);
    const seconds = (performance.now() - started) / 1000;
    socket.destroy();
    expect(seconds).toBeLessThan(9);
    expect(s.stderr()).toContain("closing their connections");
    expect(readFileSync(join(s.dataDir, (await jsonOf(stored)).stored.file), "utf8")).toContain(
      first.report_id,
    );
  }, 20_000);

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

/** Writes raw bytes to the server over one socket; the text that came back before it closed (or `ms`). */
function rawExchange(port: number, bytes: string, ms = 5_000): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on("data", (chunk) => {
      out += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

function parseAnswer(text: string): { status: number; headers: string; body: string } {
  const split = text.indexOf("\r\n\r\n");
  const head = split === -1 ? text : text.slice(0, split);
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0),
    headers: head.toLowerCase(),
    body: split === -1 ? "" : text.slice(split + 4),
  };
}

describe("on the wire (raw socket to 127.0.0.1)", () => {
  let wire: RunningServer;
  beforeAll(async () => {
    wire = await startServer();
  });
  afterAll(async () => {
    expect(await wire.stop()).toBe(0);
  });

  test("a declared Content-Length of 40,000,000 gets the JSON 413 before any body is sent", async () => {
    const answer = parseAnswer(
      await rawExchange(
        wire.port,
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40000000\r\n\r\n{",
      ),
    );
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe("body_too_large");
  });

  test("HTTP/1.0 without Host gets a JSON 400, not a 404 for a mangled path", async () => {
    const answer = parseAnswer(await rawExchange(wire.port, "GET /health HTTP/1.0\r\n\r\n"));
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error.code).toBe("missing_host");
  });

  // What SECURITY.md ("What Bun answers itself") documents: Bun's parser answers these, status right,
  // connection closed, body empty; the server is unharmed.
  const parserRefusals: Array<[string, string, number]> = [
    [
      "a malformed Content-Length",
      "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n{}",
      400,
    ],
    ["a 100 KB header", `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`, 431],
    ["HTTP/2.0 in the request line", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505],
  ];
  for (const [what, bytes, status] of parserRefusals) {
    test(`${what}: Bun's own ${status}, connection closed, server unharmed`, async () => {
      const answer = parseAnswer(await rawExchange(wire.port, bytes));
      expect(answer.status).toBe(status);
      expect(answer.headers).toContain("connection: close");
      expect((await fetch(`${wire.url}/health`)).status).toBe(200);
    });
  }

  test("two uploads pipelined in one write: whatever Bun answers, a resend stores each exactly once", async () => {
    const reports = [sampleReport(), sampleReport()];
    const request = (body: string) =>
      `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const text = await rawExchange(wire.port, reports.map((r) => request(JSON.stringify(r))).join(""));
    // Bun 1.4.5 closes without a byte (SECURITY.md, "Pipelining"); an answer, if any, is a JSON one.
    const answered = text.split("HTTP/1.1 ").length - 1;
    if (answered > 0) expect(parseAnswer(text).status).toBeGreaterThanOrEqual(200);
    for (const report of reports) {
      const res = await fetch(`${wire.url}/upload`, {
        method: "POST",
        headers: ct,
        body: JSON.stringify(report),
      });
      expect([200, 201]).toContain(res.status);
    }
    const stored = (await jsonOf(await fetch(`${wire.url}/query?ip=127.0.0.1`))) as { report_id: string }[];
    expect(stored.map((r) => r.report_id).sort()).toEqual(reports.map((r) => r.report_id).sort());
  });
});
