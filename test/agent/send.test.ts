import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createSender, type Outcome, retryAfterMs } from "../../src/agent/send.ts";
import { makeTestCertificates, openssl } from "../helpers/tls.ts";
import { freePort } from "./_helpers.ts";

interface Seen {
  headers: Headers;
  body: unknown;
}

// A tiny server that answers whatever status the path asks for: /status/503, /status/422, ...
let server: ReturnType<typeof Bun.serve>;
const seen: Seen[] = [];

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const raw = new Uint8Array(await request.arrayBuffer());
      seen.push({
        headers: request.headers,
        body: JSON.parse(new TextDecoder().decode(Bun.gunzipSync(raw))),
      });
      if (url.pathname === "/hang/upload") {
        await Bun.sleep(5_000);
        return new Response("late");
      }
      if (url.pathname === "/html/upload") {
        return new Response("<html><body>Bad Gateway from the proxy</body></html>", {
          status: 502,
          headers: { "content-type": "text/html" },
        });
      }
      const status = Number(/\/status\/(\d+)/.exec(url.pathname)?.[1] ?? 201);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (status === 429 || status === 503) headers["retry-after"] = "7";
      if (status < 300) {
        return Response.json(
          {
            ok: true,
            duplicate: status === 200,
            stored: { ip: "127.0.0.1", date: "2026-11-23", file: "f" },
            next_report_in: status === 201 ? 60 : null,
          },
          { status, headers },
        );
      }
      return Response.json(
        {
          error: {
            code: `code_${status}`,
            message: `message ${status}`,
            ...(status === 422 ? { details: [{ path: "cpu.cores", message: "Invalid type" }] } : {}),
          },
        },
        { status, headers },
      );
    },
  });
});
afterAll(() => server.stop(true));

const report = { schema_version: 1, report_id: "x" };
const body = () => Bun.gzipSync(JSON.stringify(report));

function sender(path: string, extra: Partial<Parameters<typeof createSender>[0]> = {}) {
  return createSender({
    url: new URL(`http://127.0.0.1:${server.port}${path}/upload`),
    timeoutMs: 2_000,
    userAgent: "relevo-agent/test",
    now: () => 0,
    ...extra,
  });
}

describe("createSender", () => {
  test("posts the gzip JSON with its content type, encoding and the bearer token", async () => {
    const before = seen.length;
    await sender("/status/201", { token: "s3cret" })(body());
    const request = seen[before] as Seen;
    expect(request.headers.get("content-type")).toBe("application/json");
    expect(request.headers.get("content-encoding")).toBe("gzip");
    expect(request.headers.get("authorization")).toBe("Bearer s3cret");
    expect(request.headers.get("user-agent")).toBe("relevo-agent/test");
    expect(request.body).toEqual(report);
  });

  test("sends no Authorization header without a token", async () => {
    const before = seen.length;
    await sender("/status/201")(body());
    expect(seen[before]?.headers.get("authorization")).toBeNull();
  });

  // [status, what the agent does]
  const cases: [number, Outcome["kind"]][] = [
    [200, "delivered"],
    [201, "delivered"],
    [500, "retry"],
    [502, "retry"],
    [503, "retry"],
    [504, "retry"],
    [408, "retry"],
    [429, "retry"],
    [400, "rejected"],
    [401, "rejected"],
    [403, "rejected"],
    [404, "rejected"],
    [413, "rejected"],
    [415, "rejected"],
    [422, "rejected"],
  ];
  for (const [status, kind] of cases) {
    test(`${status} means ${kind}`, async () => {
      const outcome = await sender(`/status/${status}`)(body());
      expect(outcome.kind).toBe(kind);
      if (outcome.kind !== "delivered") expect(outcome.status).toBe(status);
    });
  }

  test("a 201 carries next_report_in; a 200 is a report the server already had", async () => {
    expect(await sender("/status/201")(body())).toEqual({
      kind: "delivered",
      status: 201,
      duplicate: false,
      nextReportInS: 60,
    });
    expect(await sender("/status/200")(body())).toEqual({
      kind: "delivered",
      status: 200,
      duplicate: true,
      nextReportInS: undefined,
    });
  });

  test("a refusal carries the server's code and message, with the bad fields", async () => {
    expect(await sender("/status/422")(body())).toEqual({
      kind: "rejected",
      status: 422,
      code: "code_422",
      message: "message 422 (cpu.cores: Invalid type)",
    });
  });

  test("Retry-After is kept for the backoff", async () => {
    const outcome = await sender("/status/429")(body());
    expect(outcome.kind === "retry" && outcome.retryAfterMs).toBe(7_000);
  });

  test("a proxy's HTML error page is summarized, not dumped", async () => {
    const outcome = await sender("/html")(body());
    expect(outcome.kind).toBe("retry");
    expect(outcome.kind === "retry" && outcome.reason).toContain("Bad Gateway from the proxy");
  });

  test("a refused connection means retry later", async () => {
    const send = createSender({
      url: new URL(`http://127.0.0.1:${freePort()}/upload`),
      timeoutMs: 2_000,
      userAgent: "t",
      now: () => 0,
    });
    const outcome = await send(body());
    expect(outcome.kind).toBe("retry");
    expect(outcome.kind === "retry" && outcome.status).toBeUndefined();
    expect(outcome.kind === "retry" && outcome.reason).toContain("cannot reach http://127.0.0.1:");
  });

  test("a server that does not answer in time means retry later, after the timeout", async () => {
    const started = performance.now();
    const outcome = await sender("/hang", { timeoutMs: 300 })(body());
    expect(outcome.kind).toBe("retry");
    expect(outcome.kind === "retry" && outcome.reason).toContain("no answer from");
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("stopping the agent cuts a send short", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const outcome = await sender("/hang", { timeoutMs: 10_000 })(body(), controller.signal);
    expect(outcome.kind === "retry" && outcome.reason).toBe("stopped before the server answered");
  });
});

describe("retryAfterMs", () => {
  const now = Date.parse("2026-11-23T10:00:00Z");
  const cases: [string | null, number | undefined][] = [
    [null, undefined],
    ["120", 120_000],
    ["Mon, 23 Nov 2026 10:00:30 GMT", 30_000],
    ["Mon, 23 Nov 2026 09:00:00 GMT", 0],
    ["soon", undefined],
  ];
  for (const [value, want] of cases) test(String(value), () => expect(retryAfterMs(value, now)).toBe(want));
});

describe("a private CA (--ca)", () => {
  test.skipIf(!openssl)(
    "is trusted when given, and the same server is refused without it",
    async () => {
      const certs = await makeTestCertificates();
      const tls = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        tls: { cert: certs.cert, key: certs.key },
        fetch: () => Response.json({ ok: true, next_report_in: null }, { status: 201 }),
      });
      try {
        const url = new URL(`https://127.0.0.1:${tls.port}/upload`);
        const base = { url, timeoutMs: 5_000, userAgent: "t", now: () => 0 };
        expect((await createSender({ ...base, ca: certs.ca })(body())).kind).toBe("delivered");
        const untrusted = await createSender(base)(body());
        expect(untrusted.kind).toBe("retry");
      } finally {
        tls.stop(true);
        rmSync(certs.dir, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
