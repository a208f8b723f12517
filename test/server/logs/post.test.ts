import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { createToken, TokenRegistry } from "../../../src/server/auth/tokens.ts";
import { forEachBackend, type TestBackend } from "../../helpers/backends.ts";
import { jsonOf } from "../../helpers/json.ts";
import { entry, type LogsSetup, setupLogs } from "../../helpers/logs.ts";

const open: LogsSetup[] = [];
afterEach(async () => {
  for (const setup of open.splice(0)) await setup.close();
});
let current: TestBackend;
async function setup(options: Parameters<typeof setupLogs>[0] = {}) {
  const s = await setupLogs({ ...options, backend: current });
  open.push(s);
  return s;
}
const json = (value: unknown) => JSON.stringify(value);

forEachBackend((backend) => {
  beforeAll(() => {
    current = backend;
  });

  describe("POST /logs", () => {
    test("stores the seed service's example entry and answers 201 { ok, accepted }", async () => {
      const clock = () => new Date("2026-12-01T09:00:00.123Z");
      const { post, get } = await setup({ clock });
      const res = await post(json(entry()));
      expect(res.status).toBe(201);
      expect(await jsonOf(res)).toEqual({ ok: true, accepted: 1, duplicates: 0 });
      const page = await jsonOf(await get(""));
      expect(page).toEqual({
        count: 1,
        logs: [
          {
            id: 1,
            timestamp: "2025-08-27T10:00:00.000Z",
            received_at: "2026-12-01T09:00:00.123Z",
            service: "reports",
            severity: "INFO",
            message: "Hola logs",
            host: null,
            attributes: null,
            entry_id: null,
          },
        ],
        next: null,
      });
    });

    test("normalizes: any offset to UTC with microseconds kept, severity case-insensitive, WARN as WARNING", async () => {
      const { post, get } = await setup();
      const res = await post(
        json([
          entry({ timestamp: "2025-08-27T12:00:00.123456+02:00", severity: "warn" }),
          entry({
            timestamp: "2025-08-27 10:00:01",
            severity: "Critical",
            host: "web-1",
            attributes: { pid: 7 },
          }),
        ]),
      );
      expect(res.status).toBe(201);
      const { logs } = await jsonOf(await get("order=asc"));
      expect(logs.map((l: { timestamp: string }) => l.timestamp)).toEqual([
        "2025-08-27T10:00:00.123456Z",
        "2025-08-27T10:00:01.000Z",
      ]);
      expect(logs.map((l: { severity: string }) => l.severity)).toEqual(["WARNING", "CRITICAL"]);
      expect(logs[1]).toMatchObject({ host: "web-1", attributes: { pid: 7 } });
    });

    test("gzip bodies are accepted", async () => {
      const { post, stored } = await setup();
      const res = await post(gzipSync(json([entry(), entry()])), {
        "content-type": "application/json",
        "content-encoding": "gzip",
      });
      expect(res.status).toBe(201);
      expect(await stored()).toHaveLength(2);
    });

    test("a retry with the same entry_id is accepted and not stored twice", async () => {
      const { post, stored } = await setup();
      const batch = [entry({ entry_id: "a-1" }), entry({ entry_id: "a-2" })];
      expect(await jsonOf(await post(json(batch)))).toEqual({ ok: true, accepted: 2, duplicates: 0 });
      expect(await jsonOf(await post(json(batch)))).toEqual({ ok: true, accepted: 2, duplicates: 2 });
      expect(await stored()).toHaveLength(2);
    });

    test("a big batch that repeats some stored entry_ids stores only the new ones", async () => {
      const { post, stored } = await setup();
      const ids = (from: number, to: number) =>
        Array.from({ length: to - from }, (_, i) =>
          entry({ entry_id: `e-${from + i}`, message: `m${from + i}` }),
        );
      expect(await jsonOf(await post(json(ids(0, 40))))).toEqual({ ok: true, accepted: 40, duplicates: 0 });
      expect(await jsonOf(await post(json(ids(30, 100))))).toEqual({
        ok: true,
        accepted: 70,
        duplicates: 10,
      });
      expect((await stored()).map((e) => e.message)).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    });

    test("10,000 entries are one request", async () => {
      const { post, logStore } = await setup({ maxBody: 16 * 1024 * 1024 });
      const batch = Array.from({ length: 10_000 }, (_, i) => entry({ message: `m${i}` }));
      const res = await post(json(batch));
      expect(res.status).toBe(201);
      expect((await logStore.health()).entries).toBe(10_000);
    });
  });

  describe("POST /logs refuses bad input and stores nothing", () => {
    const cases: [string, () => RequestInit["body"], Record<string, string> | undefined, number, string][] = [
      ["malformed JSON", () => '[{"timestamp":', undefined, 400, "malformed_json"],
      ["not UTF-8", () => new Uint8Array([0x22, 0xff, 0x22]), undefined, 400, "malformed_json"],
      ["an empty batch", () => "[]", undefined, 422, "invalid_logs"],
      ["a number", () => "42", undefined, 422, "invalid_logs"],
      [
        "10,001 entries",
        () => json(Array.from({ length: 10_001 }, () => entry())),
        undefined,
        413,
        "too_many_entries",
      ],
      [
        "a body over the limit",
        () => json(Array.from({ length: 40 }, () => entry({ message: "x".repeat(60_000) }))),
        undefined,
        413,
        "body_too_large",
      ],
      ["text/plain", () => json(entry()), { "content-type": "text/plain" }, 415, "unsupported_media_type"],
      ["no content type", () => json(entry()), {}, 415, "unsupported_media_type"],
      [
        "brotli",
        () => json(entry()),
        { "content-type": "application/json", "content-encoding": "br" },
        415,
        "unsupported_encoding",
      ],
      [
        "bad gzip",
        () => "not gzip",
        { "content-type": "application/json", "content-encoding": "gzip" },
        400,
        "bad_gzip",
      ],
      [
        "a gzip bomb",
        () => gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20)),
        { "content-type": "application/json", "content-encoding": "gzip" },
        413,
        "body_too_large",
      ],
    ];
    for (const [name, body, headers, status, code] of cases) {
      test(name, async () => {
        const { post, stored } = await setup({ maxBody: 2 * 1024 * 1024 });
        const res = await post(body(), headers ?? { "content-type": "application/json" });
        expect(res.status).toBe(status);
        expect((await jsonOf(res)).error.code).toBe(code);
        expect(await stored()).toHaveLength(0);
      });
    }

    const fields: [string, Record<string, unknown>, string][] = [
      ["unknown severity", { severity: "LOUD" }, "severity"],
      ["severity as a number", { severity: 3 }, "severity"],
      ["February 30th", { timestamp: "2025-02-30T10:00:00Z" }, "timestamp"],
      ["a date without a time", { timestamp: "2025-08-27" }, "timestamp"],
      ["epoch seconds", { timestamp: 1756288800 }, "timestamp"],
      ["hour 24", { timestamp: "2025-08-27T24:00:00Z" }, "timestamp"],
      ["an offset of 25 hours", { timestamp: "2025-08-27T10:00:00+25:00" }, "timestamp"],
      ["a message over 64 KiB", { message: "é".repeat(33_000) }, "message"],
      ["a message that is an object", { message: { text: "x" } }, "message"],
      ["a service with a newline", { service: "a\nb" }, "service"],
      ["a 129-character service", { service: "s".repeat(129) }, "service"],
      ["attributes as an array", { attributes: [1, 2] }, "attributes"],
      [
        "65 attributes",
        { attributes: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) },
        "attributes",
      ],
      ["attributes over 16 KiB", { attributes: { big: "x".repeat(17_000) } }, "attributes"],
      ["a bad entry_id", { entry_id: "has space" }, "entry_id"],
      ["an unknown field", { level: "INFO" }, "level"],
      ["no service and an unbound token", { service: undefined }, "service"],
    ];
    for (const [name, overrides, field] of fields) {
      test(`422 for ${name}, naming index and field`, async () => {
        const { post, stored } = await setup({ maxBody: 1024 * 1024 });
        const res = await post(json([entry(), entry(), entry(overrides)]));
        expect(res.status).toBe(422);
        const body = await jsonOf(res);
        expect(body.error.code).toBe("invalid_logs");
        expect(body.error.details.map((d: { path: string }) => d.path)).toContain(`2.${field}`);
        expect(await stored()).toHaveLength(0);
      });
    }

    test("a single bad entry names its field without an index", async () => {
      const { post } = await setup();
      const body = await jsonOf(await post(json(entry({ severity: "LOUD" }))));
      expect(body.error.details).toEqual([
        { path: "severity", message: "severity must be one of DEBUG, INFO, WARNING (WARN), ERROR, CRITICAL" },
      ]);
    });

    test("several bad entries are all listed", async () => {
      const { post } = await setup();
      const body = await jsonOf(
        await post(json([entry({ severity: "x" }), entry(), entry({ timestamp: "y" }), 7])),
      );
      expect(body.error.details.map((d: { path: string }) => d.path)).toEqual([
        "0.severity",
        "2.timestamp",
        "3",
      ]);
      expect(body.error.message).toBe("3 of 4 entries are not valid; nothing was stored");
    });

    test("other methods get 405 with Allow", async () => {
      const { app } = await setup();
      const res = await app.request("/logs", { method: "DELETE" }, { ip: "127.0.0.1" });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD, POST");
    });
  });

  describe("tokens on /logs", () => {
    test("ingest tokens write (Token or Bearer), read tokens read, and not the other way round", async () => {
      const made: Record<string, string> = {};
      const { app, stored } = await setup({
        auth: (dir) => {
          made.ingest = createToken(dir, "ingest", undefined, new Date()).token;
          made.read = createToken(dir, "read", undefined, new Date()).token;
          return { mode: "required", registry: new TokenRegistry(dir) };
        },
      });
      const call = (method: string, authorization?: string) =>
        app.request(
          "/logs",
          {
            method,
            headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
            ...(method === "POST" ? { body: json(entry()) } : {}),
          },
          { ip: "192.0.2.1" },
        );
      expect((await call("POST")).status).toBe(401);
      expect((await call("POST", `Token ${made.read}`)).status).toBe(403);
      expect((await call("POST", `Token ${made.ingest}`)).status).toBe(201);
      expect((await call("POST", `Bearer ${made.ingest}`)).status).toBe(201);
      expect((await call("GET")).status).toBe(401);
      expect((await call("GET", `Token ${made.ingest}`)).status).toBe(403);
      const read = await call("GET", `Bearer ${made.read}`);
      expect(read.status).toBe(200);
      expect((await jsonOf(read)).count).toBe(2);
      expect(await stored()).toHaveLength(2);
    });
  });
});
