import { afterEach, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import type { AppEnv } from "../../../src/server/env.ts";
import { toErrorResponse } from "../../../src/server/http-error.ts";
import { LogRetention } from "../../../src/server/logs/retention.ts";
import type { ResolvedOptions } from "../../../src/server/options.ts";
import type { RouteKit } from "../../../src/server/routes/_endpoint.ts";
import { logsRoutes } from "../../../src/server/routes/logs.ts";
import { jsonOf } from "../../helpers/json.ts";
import { entry, type LogsSetup, setupLogs } from "../../helpers/logs.ts";

const open: LogsSetup[] = [];
afterEach(async () => {
  for (const setup of open.splice(0)) await setup.close();
});
async function setup(options: Parameters<typeof setupLogs>[0] = {}) {
  const s = await setupLogs(options);
  open.push(s);
  return s;
}
const json = (value: unknown) => JSON.stringify(value);

describe("paging while entries keep arriving", () => {
  test("every entry of the first page's snapshot is seen exactly once, new ones are not mixed in", async () => {
    const { post, get } = await setup();
    // Timestamps interleave: newcomers land before, between and after the entries being paged.
    const batch = (tag: string, offsetMs: number) =>
      Array.from({ length: 50 }, (_, i) =>
        entry({
          message: `${tag}-${i}`,
          timestamp: new Date(Date.UTC(2025, 0, 1) + i * 1000 + offsetMs).toISOString(),
        }),
      );
    expect((await post(json(batch("old", 0)))).status).toBe(201);
    const seen: string[] = [];
    let next: string | null = null;
    let round = 0;
    do {
      const page = await jsonOf(await get(`limit=6${next ? `&cursor=${next}` : ""}`));
      seen.push(...page.logs.map((l: { message: string }) => l.message));
      next = page.next;
      // Between pages: more entries, some newer, some older, some with equal timestamps.
      expect((await post(json(batch(`new${round++}`, (round % 3) * 500 - 500)))).status).toBe(201);
    } while (next);
    expect(seen).toHaveLength(50);
    expect(new Set(seen).size).toBe(50);
    expect(seen.every((m) => m.startsWith("old-"))).toBe(true);
    // A fresh query sees the newcomers.
    const fresh = await jsonOf(await get("limit=10000&total=1"));
    expect(fresh.total).toBe(50 * (round + 1));
  });

  test("concurrent posts while paging: none skipped, none repeated", async () => {
    const { post, get } = await setup();
    await post(
      json(
        Array.from({ length: 300 }, (_, i) =>
          entry({ message: `base-${i}`, timestamp: `2025-01-01T00:00:${String(i % 60).padStart(2, "0")}Z` }),
        ),
      ),
    );
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 10; i++)
        await post(json([entry({ message: `w${w}-${i}`, timestamp: "2025-01-01T00:00:30Z" })]));
    });
    const seen: string[] = [];
    let next: string | null = null;
    do {
      const page = await jsonOf(await get(`limit=13${next ? `&cursor=${next}` : ""}`));
      seen.push(...page.logs.map((l: { message: string }) => l.message));
      next = page.next;
    } while (next);
    await Promise.all(writers);
    const base = seen.filter((m) => m.startsWith("base-"));
    expect(base).toHaveLength(300);
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe("a token bound to a service", () => {
  function boundApp(s: LogsSetup, service: string | null) {
    // The route with a guard that binds every caller to `service`, as a `logs` token's guard will.
    const kit: RouteKit = {
      options: { clock: () => new Date(), maxBody: 1024 * 1024, bodyTimeoutMs: 5000 } as ResolvedOptions,
      startedAt: 0,
      guard: () => async (c, next) => {
        c.set("logService", service);
        await next();
      },
    };
    const app = new Hono<AppEnv>();
    app.route("/", logsRoutes(kit, s.logs.store));
    app.onError(toErrorResponse);
    return (body: unknown) =>
      app.request("/logs", {
        method: "POST",
        body: json(body),
        headers: { "content-type": "application/json" },
      });
  }

  test("an entry without service gets the token's", async () => {
    const s = await setup();
    const post = boundApp(s, "reports");
    expect((await post(entry({ service: undefined }))).status).toBe(201);
    expect((await s.stored())[0]?.service).toBe("reports");
  });

  test("an entry naming another service gets 403 and nothing of the batch is stored", async () => {
    const s = await setup();
    const post = boundApp(s, "reports");
    const res = await post([entry(), entry({ service: "billing" })]);
    expect(res.status).toBe(403);
    expect((await jsonOf(res)).error.message).toContain("entries 1 name another");
    expect(await s.stored()).toHaveLength(0);
  });
});

describe("retention", () => {
  test("--logs-retention-days deletes entries received before the cutoff, in chunks, and /health says so", async () => {
    let now = new Date("2026-10-01T00:00:00Z");
    const s = await setup({ clock: () => now, retentionDays: 30 });
    for (let day = 0; day < 10; day++) {
      now = new Date(Date.UTC(2026, 9, 1 + day * 5));
      await s.post(json(Array.from({ length: 120 }, (_, i) => entry({ message: `d${day}-${i}` }))));
    }
    now = new Date("2026-11-26T00:00:00Z"); // cutoff 2026-10-27: days 0-5 (Oct 1-26) go
    const retention = new LogRetention(s.logs.store, {
      clock: () => now,
      chunk: 50,
    });
    expect(await retention.runToEnd()).toBe(720);
    const left = (await s.stored()).map((e) => e.message);
    expect(left).toHaveLength(480);
    expect(left.every((m) => Number(m.slice(1, m.indexOf("-"))) >= 6)).toBe(true);
    const health = await jsonOf(await s.app.request("/health", {}, { ip: "127.0.0.1" }));
    expect(health.logs).toMatchObject({
      entries: 480,
      retention_days: 30,
      deleted_by_retention: 720,
      writable: true,
    });
    expect(health.logs.oldest_received_at).toBe("2026-10-31T00:00:00.000Z");
  });

  test("--logs-max-bytes deletes the oldest entries until the database fits", async () => {
    const s = await setup({ maxBytes: 400 * 1024 });
    for (let i = 0; i < 10; i++) {
      await s.post(
        json(Array.from({ length: 100 }, (_, j) => entry({ message: `${i}-${j} ${"x".repeat(900)}` }))),
      );
    }
    const before = s.logs.store.health();
    expect(before.bytes).toBeGreaterThan(400 * 1024);
    const retention = new LogRetention(s.logs.store, {
      clock: () => new Date(),
      chunk: 100,
    });
    const gone = await retention.runToEnd();
    const after = s.logs.store.health();
    expect(gone).toBeGreaterThan(0);
    expect(after.bytes).toBeLessThanOrEqual(400 * 1024);
    // The oldest went, the newest stayed.
    const left = await s.stored();
    expect(left.at(-1)?.message.startsWith("9-99 ")).toBe(true);
    expect(left.some((e) => e.message.startsWith("0-0 "))).toBe(false);
  });

  test("the background loop deletes while ingest goes on", async () => {
    let now = new Date("2026-10-01T00:00:00Z");
    const s = await setup({ clock: () => now, retentionDays: 1 });
    await s.post(json(Array.from({ length: 3000 }, () => entry())));
    now = new Date("2026-10-05T00:00:00Z");
    const retention = new LogRetention(s.logs.store, { clock: () => now, chunk: 200, busyMs: 1, idleMs: 50 });
    retention.start();
    const acked: number[] = [];
    while (s.logs.store.health().deleted_by_retention < 3000) {
      const started = performance.now();
      expect((await s.post(json([entry({ message: "fresh" })]))).status).toBe(201);
      acked.push(performance.now() - started);
    }
    await retention.stop();
    expect(acked.length).toBeGreaterThan(0);
    expect((await s.stored()).every((e) => e.message === "fresh")).toBe(true);
  }, 30_000);
});

describe("a full disk", () => {
  test("answers 503 with nothing stored, /health says why, and writes work again once there is room", async () => {
    const s = await setup();
    expect((await s.post(json([entry()]))).status).toBe(201);
    // SQLite's own page cap gives the same SQLITE_FULL a full file system gives.
    const db = (s.logs.store as unknown as { db: import("bun:sqlite").Database }).db;
    const pages = (db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
    db.run(`PRAGMA max_page_count = ${pages}`);
    const big = Array.from({ length: 200 }, () => entry({ message: "y".repeat(4000) }));
    const res = await s.post(json(big));
    expect(res.status).toBe(503);
    expect((await jsonOf(res)).error.code).toBe("store_unavailable");
    expect(res.headers.get("retry-after")).toBe("30");
    expect(await s.stored()).toHaveLength(1);
    expect(s.logs.store.health()).toMatchObject({ writable: false });
    db.run("PRAGMA max_page_count = 1073741823");
    expect((await s.post(json(big))).status).toBe(201);
    expect(await s.stored()).toHaveLength(201);
    expect(s.logs.store.health().writable).toBe(true);
  });
});
