import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { HTTPException } from "hono/http-exception";
import * as v from "valibot";
import { createApp } from "../../src/server/app.ts";
import { ApiError } from "../../src/server/http-error.ts";
import { ErrorBodySchema, HealthAnswerSchema, UploadAnswerSchema } from "../../src/shared/api.ts";
import { forEachBackend, type Opened, type TestBackend } from "../helpers/backends.ts";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";

const opened: Opened[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

// The same tests on the data directory and on PostgreSQL.
let backend: TestBackend;

async function setup(options: { trustProxy?: string[]; maxBody?: number } = {}) {
  const backendStores = await backend.open({ clock: () => new Date("2026-11-23T12:00:00Z") });
  opened.push(backendStores);
  const { store } = backendStores;
  const app = createApp({ store, version: "test", ...options });
  const post = (
    body: RequestInit["body"],
    headers: Record<string, string> = { "content-type": "application/json" },
    ip = "192.0.2.10",
  ) => app.request("/upload", { method: "POST", body, headers }, { ip });
  const get = (path: string) => app.request(path, {}, { ip: "127.0.0.1" });
  return { app, store, post, get };
}

const json = (value: unknown) => JSON.stringify(value);

forEachBackend((each) => {
  beforeAll(() => {
    backend = each;
  });

  describe("POST /upload", () => {
    test("stores a report and says where", async () => {
      const { post } = await setup();
      const res = await post(json(sampleReport()));
      expect(res.status).toBe(201);
      expect(await jsonOf(res)).toEqual({
        ok: true,
        duplicate: false,
        stored: { ip: "192.0.2.10", date: "2026-11-23", file: "192.0.2.10_2026-11-23.json" },
        next_report_in: null,
      });
    });

    test("a retried report answers 200 and stores nothing new", async () => {
      const { post, get } = await setup();
      const report = sampleReport();
      expect((await post(json(report))).status).toBe(201);
      const again = await post(json(report));
      expect(again.status).toBe(200);
      expect((await jsonOf(again)).duplicate).toBe(true);
      expect(await jsonOf(await get("/query?ip=192.0.2.10"))).toHaveLength(1);
    });

    test("accepts gzip", async () => {
      const { post } = await setup();
      const res = await post(gzipSync(json(sampleReport())), {
        "content-type": "application/json",
        "content-encoding": "gzip",
      });
      expect(res.status).toBe(201);
    });

    test("files IPv4-mapped peers under plain IPv4", async () => {
      const { post } = await setup();
      const res = await post(json(sampleReport()), undefined, "::ffff:10.1.2.3");
      expect((await jsonOf(res)).stored.ip).toBe("10.1.2.3");
    });

    test("believes X-Forwarded-For only from a trusted proxy", async () => {
      const { post } = await setup({ trustProxy: ["127.0.0.1"] });
      const headers = { "content-type": "application/json", "x-forwarded-for": "203.0.113.9, 198.51.100.1" };
      const viaProxy = await post(json(sampleReport()), headers, "127.0.0.1");
      expect((await jsonOf(viaProxy)).stored.ip).toBe("198.51.100.1");
      const direct = await post(json(sampleReport()), headers, "192.0.2.77");
      expect((await jsonOf(direct)).stored.ip).toBe("192.0.2.77");
    });

    const bad: Array<[string, () => [RequestInit["body"], Record<string, string>], number, string]> = [
      [
        "malformed JSON",
        () => ['{"schema_version":', { "content-type": "application/json" }],
        400,
        "malformed_json",
      ],
      [
        "invalid UTF-8",
        () => [new Uint8Array([0x7b, 0xff, 0x7d]), { "content-type": "application/json" }],
        400,
        "malformed_json",
      ],
      [
        "a wrong content type",
        () => [json(sampleReport()), { "content-type": "text/plain" }],
        415,
        "unsupported_media_type",
      ],
      [
        "an unknown encoding",
        () => [json(sampleReport()), { "content-type": "application/json", "content-encoding": "br" }],
        415,
        "unsupported_encoding",
      ],
      [
        "broken gzip",
        () => [
          new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]),
          { "content-type": "application/json", "content-encoding": "gzip" },
        ],
        400,
        "bad_gzip",
      ],
      [
        "a gzip bomb",
        () => [
          gzipSync(Buffer.alloc(64 * 1024 * 1024, 32)),
          { "content-type": "application/json", "content-encoding": "gzip" },
        ],
        413,
        "body_too_large",
      ],
      [
        "an oversized body",
        () => [" ".repeat(9 * 1024 * 1024), { "content-type": "application/json" }],
        413,
        "body_too_large",
      ],
      [
        "deep nesting",
        () => ["[".repeat(100_000) + "]".repeat(100_000), { "content-type": "application/json" }],
        400,
        "too_deep",
      ],
      ["a JSON array", () => ["[]", { "content-type": "application/json" }], 422, "invalid_report"],
    ];
    for (const [what, make, status, code] of bad) {
      test(`answers ${status} ${code} to ${what}`, async () => {
        const { post } = await setup();
        const [body, headers] = make();
        const res = await post(body, headers);
        expect(res.status).toBe(status);
        expect((await jsonOf(res)).error.code).toBe(code);
      });
    }

    test("names the path of each bad field in a 422", async () => {
      const { post } = await setup();
      const report = sampleReport();
      const broken = {
        ...report,
        memory: { ...report.memory, total_bytes: -1 },
        cpu: { ...report.cpu, cores: "two" },
      };
      const res = await post(json(broken));
      expect(res.status).toBe(422);
      const paths = (await jsonOf(res)).error.details.map((d: { path: string }) => d.path);
      expect(paths).toEqual(expect.arrayContaining(["memory.total_bytes", "cpu.cores"]));
    });

    test("keeps unknown fields from newer agents", async () => {
      const { post, get } = await setup();
      await post(json({ ...sampleReport(), future_field: { x: 1 } }));
      const [row] = await jsonOf(await get("/query?ip=192.0.2.10"));
      expect(row.future_field).toEqual({ x: 1 });
    });

    test("drops prototype keys instead of letting them through", async () => {
      const { post, get } = await setup();
      const body = json(sampleReport()).replace(
        /^\{/,
        '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},',
      );
      expect((await post(body)).status).toBe(201);
      const [row] = await jsonOf(await get("/query?ip=192.0.2.10"));
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    });

    test("answers 405 with Allow to a GET", async () => {
      const { get } = await setup();
      const res = await get("/upload");
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
    });
  });

  describe("GET endpoints", () => {
    test("/query returns the newest day of an ip, oldest first", async () => {
      const { post, get } = await setup();
      const a = sampleReport();
      const b = sampleReport();
      await post(json(a));
      await post(json(b));
      const res = await get("/query?ip=192.0.2.10");
      expect(res.status).toBe(200);
      expect((await jsonOf(res)).map((r: { report_id: string }) => r.report_id)).toEqual([
        a.report_id,
        b.report_id,
      ]);
      const limited = await jsonOf(await get("/query?ip=192.0.2.10&date=2026-11-23&limit=1"));
      expect(limited.map((r: { report_id: string }) => r.report_id)).toEqual([b.report_id]);
    });

    const badQueries: Array<[string, number, string]> = [
      ["/query", 400, "missing_parameter"],
      ["/query?ip=../../etc/passwd", 400, "bad_ip"],
      ["/query?ip=10.0.0.1%00", 400, "bad_ip"],
      ["/query?ip=10.0.0.1_2026-11-23.json", 400, "bad_ip"],
      ["/query?ip=10.0.0.1&date=2026-02-30", 400, "bad_date"],
      ["/query?ip=10.0.0.1&date=..%2F..%2Fx", 400, "bad_date"],
      ["/query?ip=10.0.0.1&from=yesterday", 400, "bad_time"],
      ["/query?ip=10.0.0.1&limit=0", 400, "bad_limit"],
      ["/query?ip=10.0.0.1", 404, "not_found"],
      ["/query?ip=10.0.0.1&date=2026-11-22", 404, "not_found"],
      ["/files?ip=nope", 400, "bad_ip"],
      ["/nothing-here", 404, "not_found"],
    ];
    for (const [path, status, code] of badQueries) {
      test(`${path} answers ${status} ${code}`, async () => {
        const { get } = await setup();
        const res = await get(path);
        expect(res.status).toBe(status);
        expect((await jsonOf(res)).error.code).toBe(code);
      });
    }

    test("/files, /hosts and /health describe the store", async () => {
      const { post, get } = await setup();
      const report = sampleReport();
      await post(json(report));
      const files = await jsonOf(await get("/files"));
      expect(files.files).toEqual([
        expect.objectContaining({ ip: "192.0.2.10", date: "2026-11-23", reports: 1 }),
      ]);
      const hosts = await jsonOf(await get("/hosts"));
      expect(hosts.hosts[0]).toMatchObject({
        ip: "192.0.2.10",
        hostname: report.host.hostname,
        process_count: report.processes.total,
      });
      const health = await jsonOf(await get("/health"));
      expect(health).toMatchObject({ status: "ok", version: "test", store: { writable: true, files: 1 } });
    });
  });

  describe("one error shape, one contract", () => {
    const allowed: Array<[string, string, string]> = [
      ["/upload", "GET", "POST"],
      ["/query", "POST", "GET, HEAD"],
      ["/files", "DELETE", "GET, HEAD"],
      ["/hosts", "PUT", "GET, HEAD"],
      ["/health", "POST", "GET, HEAD"],
    ];
    for (const [path, method, allow] of allowed) {
      test(`${method} ${path} answers 405 with Allow: ${allow}`, async () => {
        const { app } = await setup();
        const res = await app.request(path, { method }, { ip: "127.0.0.1" });
        expect(res.status).toBe(405);
        expect(res.headers.get("allow")).toBe(allow);
        expect((await jsonOf(res)).error.code).toBe("method_not_allowed");
      });
    }

    test("HEAD is served by the GET route", async () => {
      const { app } = await setup();
      const res = await app.request("/health", { method: "HEAD" }, { ip: "127.0.0.1" });
      expect(res.status).toBe(200);
    });

    test("an HTTPException keeps its status and gets a code for it; a 5xx stays a 5xx", async () => {
      const { app, get } = await setup();
      app.get("/teapot", () => {
        throw new HTTPException(503, { message: "down for a moment" });
      });
      app.get("/gone", () => {
        throw new HTTPException(413);
      });
      const down = await get("/teapot");
      expect(down.status).toBe(503);
      expect(await jsonOf(down)).toEqual({ error: { code: "unavailable", message: "down for a moment" } });
      const large = await get("/gone");
      expect(large.status).toBe(413);
      expect((await jsonOf(large)).error.code).toBe("body_too_large");
    });

    test("an ApiError is an HTTPException whose own response is the JSON error body", async () => {
      const error = new ApiError(429, "rate_limited", "slow down", undefined, { "retry-after": "3" });
      expect(error).toBeInstanceOf(HTTPException);
      const res = error.getResponse();
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("3");
      expect(v.parse(ErrorBodySchema, await res.json()).error.code).toBe("rate_limited");
    });

    test("the upload and health answers match the shared schemas", async () => {
      const { post, get } = await setup();
      const res = await post(json(sampleReport()));
      expect(v.safeParse(UploadAnswerSchema, await jsonOf(res)).success).toBe(true);
      expect(v.safeParse(HealthAnswerSchema, await jsonOf(await get("/health"))).success).toBe(true);
      const bad = await post("{");
      expect(v.safeParse(ErrorBodySchema, await jsonOf(bad)).success).toBe(true);
    });
  });

  describe("what a report may hold (issue 9, item 13)", () => {
    test("lone surrogates become U+FFFD; a real pair is kept; the day file stays well-formed", async () => {
      const { post, get } = await setup();
      const report = sampleReport();
      const text = JSON.stringify(report)
        .replace(`"hostname":${JSON.stringify(report.host.hostname)}`, '"hostname":"a\\udfffb\\ud83d\\ude00"')
        .replace('"schema_version":1', '"schema_version":1,"x\\ud800":["\\ud800\\u0041","\\\\udfff"]');
      expect((await post(text)).status).toBe(201);
      const stored = await (await get("/query?ip=192.0.2.10")).text();
      // A lone surrogate in a day file is written as an escape; none may remain (an escaped backslash may).
      expect(stored).not.toMatch(/(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i);
      const [row] = JSON.parse(stored);
      expect(row.host.hostname).toBe("a\ufffdb\u{1F600}");
      expect(row["x\ufffd"]).toEqual(["\ufffdA", "\\udfff"]);
      const [summary] = (await jsonOf(await get("/hosts"))).hosts;
      expect(summary.hostname).toBe("a\ufffdb\u{1F600}");
    });

    const days: Array<[string, number]> = [
      ["2026-02-30T00:00:00Z", 422],
      ["2026-02-29T00:00:00Z", 422],
      ["2026-04-31T12:00:00Z", 422],
      ["2028-02-29T00:00:00Z", 201],
      ["2026-12-31T23:59:59.999Z", 201],
    ];
    for (const [collectedAt, status] of days) {
      test(`collected_at ${collectedAt}: ${status}`, async () => {
        const { post } = await setup();
        const res = await post(json(sampleReport({ collected_at: collectedAt })));
        expect(res.status).toBe(status);
        if (status === 422) expect((await jsonOf(res)).error.details[0].path).toBe("collected_at");
      });
    }

    test("a process started on a day that does not exist is refused too", async () => {
      const { post } = await setup();
      const report = sampleReport();
      const [first] = report.processes.list;
      if (!first) throw new Error("the fixture has no process");
      first.started_at = "2026-06-31T08:00:00Z";
      const res = await post(json(report));
      expect(res.status).toBe(422);
      expect((await jsonOf(res)).error.details[0].path).toBe("processes.list.0.started_at");
    });

    const numbers: Array<[string, number]> = [
      ['"extra":1e400', 422],
      ['"extra":{"deep":[1,-1e400]}', 422],
      [`"extra":1${"0".repeat(400)}`, 422],
      ['"extra":1e-400', 201],
      ['"extra":1.5e300', 201],
    ];
    for (const [field, status] of numbers) {
      test(`an unknown field ${field.slice(0, 40)}: ${status}`, async () => {
        const { post } = await setup();
        const res = await post(
          json(sampleReport()).replace('"schema_version":1', `"schema_version":1,${field}`),
        );
        expect(res.status).toBe(status);
        if (status === 422) expect((await jsonOf(res)).error.code).toBe("invalid_report");
      });
    }

    for (const ip of [
      "1.2.3.4%2532",
      "1.2.3.4%25eth0",
      "%201.2.3.4",
      "1.2.3.4%20",
      "fe80::1%25eth0",
      "%091.2.3.4",
    ]) {
      test(`/query?ip=${ip}: 400 bad_ip`, async () => {
        const { post, get } = await setup();
        await post(json(sampleReport()), undefined, "1.2.3.4");
        const res = await get(`/query?ip=${ip}`);
        expect(res.status).toBe(400);
        expect((await jsonOf(res)).error.code).toBe("bad_ip");
      });
    }
  });
});
