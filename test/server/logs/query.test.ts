import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { forEachBackend } from "../../helpers/backends.ts";
import { jsonOf } from "../../helpers/json.ts";
import { type LogsSetup, setupLogs } from "../../helpers/logs.ts";

// 120 entries: 3 services x 5 severities x 8 minutes, received in 4 posts 10 minutes apart.
const SERVICES = ["api", "worker", "cron"];
const SEVERITIES = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const RANK: Record<string, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3, CRITICAL: 4 };
interface Made {
  timestamp: string;
  service: string;
  severity: string;
  message: string;
  received: number;
}
forEachBackend((backend) => {
  const made: Made[] = [];
  let now = new Date("2026-12-01T08:00:00Z");
  let s: LogsSetup;

  beforeAll(async () => {
    s = await setupLogs({ clock: () => now, backend });
    let n = 0;
    for (let post = 0; post < 4; post++) {
      now = new Date(Date.UTC(2026, 11, 1, 8, post * 10));
      const batch = [];
      for (let minute = post * 2; minute < post * 2 + 2; minute++) {
        for (const service of SERVICES) {
          for (const severity of SEVERITIES) {
            const e = {
              timestamp: new Date(Date.UTC(2025, 7, 27, 10, minute, n % 60)).toISOString(),
              service,
              severity,
              message: `${service} ${severity.toLowerCase()} event #${n}${n % 7 === 0 ? " disk 100% full_now" : ""}`,
            };
            n++;
            batch.push(e);
            made.push({ ...e, received: now.getTime() });
          }
        }
      }
      expect((await s.post(JSON.stringify(batch))).status).toBe(201);
    }
  });
  afterAll(() => s.close());

  const ts = (m: Made) => Date.parse(m.timestamp);
  /** What a correct server returns: filtered, newest first by (timestamp, id). */
  function expected(filter: (m: Made) => boolean, order: "asc" | "desc" = "desc"): string[] {
    const picked = made.map((m, id) => ({ m, id })).filter(({ m }) => filter(m));
    picked.sort((a, b) => ts(a.m) - ts(b.m) || a.id - b.id);
    if (order === "desc") picked.reverse();
    return picked.map(({ m }) => m.message);
  }
  async function messages(query: string): Promise<string[]> {
    const res = await s.get(query);
    expect(res.status).toBe(200);
    const page = await jsonOf(res);
    expect(page.count).toBe(page.logs.length);
    return page.logs.map((l: { message: string }) => l.message);
  }
  const iso = (minute: number, second = 0) =>
    new Date(Date.UTC(2025, 7, 27, 10, minute, second)).toISOString();
  const rec = (minute: number) => new Date(Date.UTC(2026, 11, 1, 8, minute)).toISOString();

  const all = 10_000;
  const cases: [string, string, (m: Made) => boolean, ("asc" | "desc")?][] = [
    ["no filter", "", () => true],
    ["timestamp_start", `timestamp_start=${iso(3)}`, (m) => ts(m) >= Date.parse(iso(3))],
    ["timestamp_end", `timestamp_end=${iso(2, 30)}`, (m) => ts(m) <= Date.parse(iso(2, 30))],
    [
      "timestamp window with an offset",
      `timestamp_start=${encodeURIComponent("2025-08-27T12:02:00+02:00")}&timestamp_end=${iso(5)}`,
      (m) => ts(m) >= Date.parse(iso(2)) && ts(m) <= Date.parse(iso(5)),
    ],
    ["received_at_start", `received_at_start=${rec(15)}`, (m) => m.received >= Date.parse(rec(15))],
    ["received_at_end", `received_at_end=${rec(10)}`, (m) => m.received <= Date.parse(rec(10))],
    [
      "received window",
      `received_at_start=${rec(10)}&received_at_end=${rec(20)}`,
      (m) => m.received >= Date.parse(rec(10)) && m.received <= Date.parse(rec(20)),
    ],
    ["service", "service=worker", (m) => m.service === "worker"],
    ["unknown service", "service=nobody", () => false],
    ["severity", "severity=error", (m) => m.severity === "ERROR"],
    ["severity list", "severity=DEBUG,critical", (m) => m.severity === "DEBUG" || m.severity === "CRITICAL"],
    [
      "severity repeated",
      "severity=DEBUG&severity=WARN",
      (m) => m.severity === "DEBUG" || m.severity === "WARNING",
    ],
    ["min_severity", "min_severity=WARNING", (m) => (RANK[m.severity] ?? 0) >= 2],
    [
      "severity and min_severity together",
      "severity=INFO,ERROR,CRITICAL&min_severity=ERROR",
      (m) => m.severity === "ERROR" || m.severity === "CRITICAL",
    ],
    ["severity and min_severity excluding each other", "severity=DEBUG&min_severity=ERROR", () => false],
    ["q substring", "q=event%20%2312", (m) => m.message.includes("event #12")],
    ["q with LIKE wildcards taken literally", "q=100%25%20full_", (m) => m.message.includes("100% full_")],
    ["q is case-insensitive", "q=DISK", (m) => m.message.includes("disk")],
    [
      "service + severity",
      "service=api&severity=ERROR",
      (m) => m.service === "api" && m.severity === "ERROR",
    ],
    [
      "service + min_severity",
      "service=cron&min_severity=ERROR",
      (m) => m.service === "cron" && (RANK[m.severity] ?? 0) >= 3,
    ],
    [
      "service + low severities",
      "service=cron&severity=DEBUG,INFO",
      (m) => m.service === "cron" && (m.severity === "DEBUG" || m.severity === "INFO"),
    ],
    [
      "service + time + severity + q",
      `service=api&timestamp_start=${iso(1)}&timestamp_end=${iso(6)}&min_severity=INFO&q=event`,
      (m) =>
        m.service === "api" &&
        ts(m) >= Date.parse(iso(1)) &&
        ts(m) <= Date.parse(iso(6)) &&
        m.severity !== "DEBUG",
    ],
    [
      "received + service + severity",
      `received_at_start=${rec(20)}&service=worker&severity=WARNING`,
      (m) => m.received >= Date.parse(rec(20)) && m.service === "worker" && m.severity === "WARNING",
    ],
    ["order=asc", "order=asc", () => true, "asc"],
    [
      "order=asc + service + min_severity",
      "order=asc&service=api&min_severity=ERROR",
      (m) => m.service === "api" && (RANK[m.severity] ?? 0) >= 3,
      "asc",
    ],
  ];

  describe("GET /logs filters", () => {
    for (const [name, query, filter, order] of cases) {
      test(name, async () => {
        expect(await messages(`${query}&limit=${all}`)).toEqual(expected(filter, order));
      });
    }

    test("limit defaults to 100 and keeps the newest", async () => {
      expect(await messages("")).toEqual(expected(() => true).slice(0, 100));
    });

    test("offset skips", async () => {
      expect(await messages("service=api&limit=5&offset=3")).toEqual(
        expected((m) => m.service === "api").slice(3, 8),
      );
    });

    test("total counts every match when asked", async () => {
      const page = await jsonOf(await s.get("service=api&limit=2&total=true"));
      expect(page.total).toBe(40);
      expect(page.count).toBe(2);
      expect((await jsonOf(await s.get("limit=2"))).total).toBeUndefined();
    });

    test("cursor pages through everything once, in order", async () => {
      for (const order of ["desc", "asc"] as const) {
        const seen: string[] = [];
        let next: string | null = null;
        let pages = 0;
        do {
          const page = await jsonOf(
            await s.get(`min_severity=INFO&limit=7&order=${order}${next ? `&cursor=${next}` : ""}`),
          );
          seen.push(...page.logs.map((l: { message: string }) => l.message));
          next = page.next;
          pages++;
        } while (next);
        expect(seen).toEqual(expected((m) => m.severity !== "DEBUG", order));
        expect(pages).toBe(Math.ceil(96 / 7));
      }
    });

    test("a page that ends exactly at the last entry has no next", async () => {
      const page = await jsonOf(await s.get("service=api&limit=40"));
      expect(page.count).toBe(40);
      expect(page.next).toBeNull();
    });
  });

  describe("GET /logs refuses bad parameters with 400", () => {
    const bad: [string, string][] = [
      ["a bad timestamp_start", "timestamp_start=yesterday"],
      ["February 30th in timestamp_end", "timestamp_end=2025-02-30T00:00:00Z"],
      ["a bad received_at_start", "received_at_start=1756288800"],
      ["an unknown severity", "severity=LOUD"],
      ["an unknown min_severity", "min_severity=3"],
      ["limit 0", "limit=0"],
      ["limit over 10,000", "limit=10001"],
      ["a negative offset", "offset=-1"],
      ["a fractional limit", "limit=1.5"],
      ["an unknown order", "order=random"],
      ["an unknown parameter", "servce=api"],
      ["service given twice", "service=a&service=b"],
      ["an empty q", "q="],
      ["a forged cursor", "cursor=eyJ2IjoxfQ"],
      ["garbage as cursor", "cursor=%%%"],
    ];
    for (const [name, query] of bad) {
      test(name, async () => {
        const res = await s.get(query);
        expect(res.status).toBe(400);
        expect((await jsonOf(res)).error.code).toMatch(/^bad_/);
      });
    }

    test("a cursor with other filters", async () => {
      const { next } = await jsonOf(await s.get("service=api&limit=1"));
      const res = await s.get(`service=worker&limit=1&cursor=${next}`);
      expect(res.status).toBe(400);
      expect((await jsonOf(res)).error.code).toBe("bad_cursor");
    });

    test("a cursor with an offset", async () => {
      const { next } = await jsonOf(await s.get("limit=1"));
      expect((await s.get(`limit=1&offset=2&cursor=${next}`)).status).toBe(400);
    });
  });
});
