// Hostile input, fuzzed: fast-check generates and mutates requests and throws them at the real server
// process on 127.0.0.1, 16 at a time. Never a 500, never a crash, every 4xx a JSON error with a code, and
// afterwards the day files parse and hold exactly the reports that got a 201.
// Replay a failure with FUZZ_SEED=<seed printed> (and FUZZ_RUNS to change the number of batches).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import type { Report } from "../../src/shared/report.ts";
import { sampleReport } from "../helpers/report.ts";
import { type RunningServer, startServer } from "../helpers/server.ts";
import { checkDir } from "./helpers.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 61_123);
const BATCH = 16;
const RUNS = Number(process.env.FUZZ_RUNS ?? 1250);
const MAX_BODY = 256 * 1024;

let server: RunningServer;
beforeAll(async () => {
  server = await startServer([
    "--rate-limit",
    "0",
    "--trust-proxy",
    "127.0.0.1",
    // Behind a proxy tokens are required unless --no-auth: this suite is about bodies, not auth.
    "--no-auth",
    "--max-body",
    String(MAX_BODY),
    "--body-timeout",
    "2",
  ]);
});
afterAll(() => {
  if (server.proc.exitCode === null) server.proc.kill("SIGKILL");
});

// ---- the requests ----------------------------------------------------------------------------------------

interface Req {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  /** The report id a 201 would store (null when the body holds none we can name). */
  id?: string | null;
  /** Bytes for a raw TCP request (malformed HTTP framing), instead of fetch. */
  raw?: string;
}

const base = (() => {
  const report = sampleReport();
  return { ...report, processes: { ...report.processes, list: report.processes.list.slice(0, 3) } } as Report;
})();
const PROTO_KEYS = ["__proto__", "constructor", "prototype"];
const RAW = "\u0001RAW:";
const rawNumber = fc.constantFrom(
  "1e400",
  "-1e400",
  "1E+2",
  "-0",
  "0.0000",
  "1e-400",
  "123456789012345678901234567890",
  "01",
  "+1",
  ".5",
  "NaN",
  "Infinity",
  "0x10",
);
const hostileString = fc.oneof(
  fc.constantFrom(
    "",
    "\u0000",
    "\ud800",
    "\udfff\ud800",
    "\ufeff",
    "\u202e\u0041",
    "🙂".repeat(300),
    "a".repeat(5000),
    "../../etc/passwd",
    "..\\..\\windows\\system32",
    "CON",
    "NUL",
    "COM1",
    "/dev/null",
    "C:\\",
    "%00",
    "NaN",
    "Infinity",
    "1e308",
    "2026-13-45T99:99:99Z",
  ),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({ unit: "grapheme", maxLength: 100 }),
  fc.string({ maxLength: 2000 }),
);
const hostileNumber = fc.oneof(
  fc.constantFrom(
    1e308,
    -1e308,
    -0,
    Number.MAX_SAFE_INTEGER + 2,
    -1,
    0.5,
    5e-324,
    2 ** 53,
    101,
    4096 * 100 + 1,
  ),
  fc.double(),
  fc.integer(),
);
const deep = (depth: number, object: boolean) =>
  object ? `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}` : `${"[".repeat(depth)}${"]".repeat(depth)}`;
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hostileNumber,
  rawNumber.map((token) => `${RAW}${token}`),
  fc.constantFrom(null, true, false, [], {}),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 55, max: 80 }).map((depth) => JSON.parse(deep(depth, depth % 2 === 0))),
  fc.array(fc.constantFrom("x", 1, null), { maxLength: 3000 }),
);

interface Mutation {
  path: number[];
  op: "set" | "delete" | "proto";
  key: string;
  value: unknown;
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.array(fc.nat(), { maxLength: 5 }),
  op: fc.constantFrom("set", "set", "delete", "proto"),
  key: fc.constantFrom(...PROTO_KEYS),
  value: hostileValue,
});

/** Applies mutations to a copy of the base report; prototype keys become own properties, as JSON can carry. */
function mutate(id: string, mutations: Mutation[]): Record<string, unknown> {
  const report = structuredClone({ ...base, report_id: id }) as unknown as Record<string, unknown>;
  for (const m of mutations) {
    let parent: Record<string, unknown> = report;
    let key = "";
    for (const step of m.path) {
      const keys = Object.keys(parent);
      if (!keys.length) break;
      key = keys[step % keys.length] as string;
      const child = parent[key];
      if (typeof child !== "object" || child === null || step % 7 === 0) break;
      parent = child as Record<string, unknown>;
      key = "";
    }
    if (m.op === "proto" || !key) {
      Object.defineProperty(parent, m.key, {
        value: m.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else if (m.op === "delete") delete parent[key];
    else parent[key] = m.value;
  }
  return report;
}

function serialize(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0001RAW:([^"]*)"/g, "$1");
}

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant("application/json") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "APPLICATION/JSON; charset=utf-8",
      "application/json;",
      "application/json ; charset=latin1",
      "application/jsonx",
      "application/json-patch+json",
      "text/json",
      "text/plain",
      "",
      "multipart/form-data; boundary=x",
      "application/x-www-form-urlencoded",
      "application/json\t",
      `application/json; ${"x".repeat(4000)}`,
    ),
  },
);
const encoding = fc.oneof(
  { weight: 9, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "identity",
      "IDENTITY",
      "gzip",
      " gzip ",
      "deflate",
      "br",
      "gzip, gzip",
      "x-gzip",
      "",
      "*",
    ),
  },
);
const printable = fc.string({
  unit: fc.constantFrom(..."0123456789abcdefABCDEF.:-_[]%, /\\\tx;=\"'*".split("")),
  maxLength: 80,
});
const forwardedFor = fc.oneof(
  { weight: 5, arbitrary: fc.constant(null) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "203.0.113.9",
      "2001:db8::77",
      "::ffff:203.0.113.10",
      "[2001:db8::78]",
      "fe80::1%eth0",
      "203.0.113.11, 127.0.0.1",
      "010.000.000.001",
      "../../etc",
      "..\\..\\x",
      "CON",
      "NUL",
      "a".repeat(5000),
      "1.2.3.4, , 5.6.7.8",
      "unknown",
      "",
    ),
  },
  { weight: 2, arbitrary: printable },
);

/** A report in one of its many broken or valid shapes, as an upload. */
const upload: fc.Arbitrary<Req> = fc
  .record({
    id: fc.uuid(),
    mutations: fc.array(mutation, { maxLength: 3 }),
    shape: fc.constantFrom("json", "json", "json", "gzip", "truncated", "gzip-truncated", "gzip-flipped"),
    cut: fc.nat(),
    ct: contentType,
    ce: encoding,
    xff: forwardedFor,
  })
  .map(({ id, mutations, shape, cut, ct, ce, xff }) => {
    const report = mutate(id, mutations);
    const text = serialize(report);
    let body: Uint8Array | string = text;
    const headers: Record<string, string> = { "content-type": ct };
    if (xff !== null) headers["x-forwarded-for"] = xff;
    if (shape.startsWith("gzip")) {
      let zipped = gzipSync(text);
      if (shape === "gzip-truncated") zipped = zipped.subarray(0, cut % zipped.length);
      if (shape === "gzip-flipped") {
        zipped = Buffer.from(zipped);
        const at = cut % zipped.length;
        zipped[at] = (zipped[at] ?? 0) ^ 0x5a;
      }
      body = zipped;
      headers["content-encoding"] = ce ?? "gzip";
    } else {
      if (shape === "truncated") body = text.slice(0, cut % text.length);
      if (ce !== null) headers["content-encoding"] = ce;
    }
    const reportId = typeof report.report_id === "string" ? report.report_id : null;
    return { kind: `upload/${shape}`, method: "POST", path: "/upload", headers, body, id: reportId };
  });

const bomb = gzipSync(Buffer.alloc(4 * MAX_BODY));
const oversized = "x".repeat(MAX_BODY + 10);
/** Bodies that are not reports at all. */
const junk: fc.Arbitrary<Req> = fc
  .record({
    body: fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 2000 }),
      fc.string({ unit: "binary", maxLength: 500 }),
      fc.integer({ min: 1, max: 200_000 }).chain((depth) => fc.boolean().map((o) => deep(depth, o))),
      fc.constantFrom(
        bomb,
        oversized,
        gzipSync("not json"),
        new Uint8Array([0x1f, 0x8b]),
        "",
        "null",
        "[]",
        '{"__proto__":{"schema_version":1}}',
        '{"constructor":{"prototype":{"x":1}}}',
        "\ufeff{}",
        '"\\ud800"',
      ),
    ),
    gzip: fc.boolean(),
    ct: contentType,
    xff: forwardedFor,
  })
  .map(({ body, gzip, ct, xff }) => {
    const headers: Record<string, string> = { "content-type": ct };
    if (gzip) headers["content-encoding"] = "gzip";
    if (xff !== null) headers["x-forwarded-for"] = xff;
    return { kind: "junk", method: "POST", path: "/upload", headers, body, id: null };
  });

const pathValue = fc.oneof(
  fc.constantFrom(
    "127.0.0.1",
    "203.0.113.9",
    "2001-db8--77",
    "::ffff:127.0.0.1",
    "..%2F..%2Fetc%2Fpasswd",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "..%5C..%5Cwindows",
    "127.0.0.1%00.json",
    "%00",
    "%2e%2e%2f%2e%2e%2f",
    "%252e%252e%252f",
    "/etc/passwd",
    "C:\\Windows\\System32",
    "\\\\server\\share",
    "CON",
    "NUL",
    "AUX",
    "PRN",
    "COM1",
    "LPT1",
    "con.json",
    "2026-11-23",
    "2026-02-30",
    "9999-99-99",
    "0000-00-00",
    "2026-11-23/../..",
    "2026-11-23%2F..%2F..",
    "x".repeat(5000),
    "",
    "%",
    "%zz",
  ),
  printable.map((s) => encodeURIComponent(s)),
  fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => encodeURIComponent(s)),
);
/** GETs aimed at the file system through ip/date and the other query parameters. */
const query: fc.Arbitrary<Req> = fc
  .record({
    endpoint: fc.constantFrom("/query", "/query", "/files"),
    ip: fc.option(pathValue, { nil: undefined }),
    date: fc.option(pathValue, { nil: undefined }),
    from: fc.option(pathValue, { nil: undefined }),
    limit: fc.option(
      fc.oneof(fc.constantFrom("0", "1", "-1", "1e3", "999999", "1000000", "NaN"), pathValue),
      {
        nil: undefined,
      },
    ),
  })
  .map(({ endpoint, ip, date, from, limit }) => {
    const params = Object.entries({ ip, date, from, limit })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    return { kind: `get${endpoint}`, method: "GET", path: `${endpoint}?${params.join("&")}`, headers: {} };
  });

/** Other methods and paths. */
const other: fc.Arbitrary<Req> = fc
  .record({
    method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
    path: fc.constantFrom(
      "/upload",
      "/query",
      "/files",
      "/hosts",
      "/health",
      "/",
      "/upload/",
      "/UPLOAD",
      "//upload",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/..%2f..%2fetc",
      "/files/..%5C..%5C",
      `/${"a".repeat(3000)}`,
      "/query;ip=127.0.0.1",
    ),
  })
  .map(({ method, path }) => ({ kind: "other", method, path, headers: {} }));

/** Framing fetch will not send: wrong or absurd Content-Length, broken chunked encoding. */
const raw: fc.Arbitrary<Req> = fc
  .record({
    framing: fc.constantFrom(
      "short",
      "long",
      "nan",
      "negative",
      "double",
      "chunked-bad",
      "cl-and-te",
      "huge",
    ),
    body: fc.constantFrom('{"a":1}', JSON.stringify(base)),
  })
  .map(({ framing, body }) => {
    const head =
      "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n";
    const length = Buffer.byteLength(body);
    const frames: Record<string, string> = {
      short: `${head}Content-Length: ${Math.max(1, length - 5)}\r\n\r\n${body}`,
      long: `${head}Content-Length: ${length + 100}\r\n\r\n${body}`,
      nan: `${head}Content-Length: abc\r\n\r\n${body}`,
      negative: `${head}Content-Length: -5\r\n\r\n${body}`,
      double: `${head}Content-Length: ${length}\r\nContent-Length: ${length + 1}\r\n\r\n${body}`,
      "chunked-bad": `${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`,
      "cl-and-te": `${head}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n${length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      huge: `${head}Content-Length: 99999999999999999999\r\n\r\n${body}`,
    };
    return { kind: `raw/${framing}`, method: "POST", path: "/upload", headers: {}, raw: frames[framing] };
  });

const request: fc.Arbitrary<Req> = fc.oneof(
  { weight: 45, arbitrary: upload },
  { weight: 20, arbitrary: junk },
  { weight: 25, arbitrary: query },
  { weight: 7, arbitrary: other },
  { weight: 3, arbitrary: raw },
);

// ---- sending and checking --------------------------------------------------------------------------------

/** Sends raw bytes, half-closes, and returns the status of the answer (0 when the server just closed). */
function sendRaw(bytes: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(server.port, "127.0.0.1");
    let answer = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0));
    };
    const timer = setTimeout(done, 4000);
    socket.on("connect", () => socket.end(bytes));
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
    });
    socket.on("close", done);
    socket.on("error", done);
  });
}

const accepted = new Map<string, string>();
const stats = { requests: 0, byStatus: new Map<number, number>(), byKind: new Map<string, number>() };

async function send(req: Req): Promise<string | null> {
  stats.requests++;
  stats.byKind.set(req.kind, (stats.byKind.get(req.kind) ?? 0) + 1);
  if (req.raw !== undefined) {
    const status = await sendRaw(req.raw);
    stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1);
    return status >= 500 ? `${req.kind}: ${status}` : null;
  }
  let res: Response;
  try {
    res = await fetch(`${server.url}${req.path}`, {
      method: req.method,
      headers: req.headers,
      body: req.body,
    });
  } catch (error) {
    return `${req.kind} ${req.method} ${req.path.slice(0, 80)}: no answer (${(error as Error).message})`;
  }
  const status = res.status;
  stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1);
  const text = await res.text();
  const what = `${req.kind} ${req.method} ${req.path.slice(0, 80)} -> ${status} ${text.slice(0, 200)}`;
  if (status >= 500) return what;
  if (req.method === "HEAD") return null;
  let body: { error?: { code?: unknown }; stored?: { file?: unknown } } | null = null;
  try {
    body = JSON.parse(text);
  } catch {
    return `${what}: not JSON`;
  }
  if (status >= 400 && typeof body?.error?.code !== "string") return `${what}: no error.code`;
  if (status === 201) {
    if (req.id === null || req.id === undefined) return `${what}: accepted a body with no report id we know`;
    if (accepted.has(req.id)) return `${what}: 201 twice for ${req.id}`;
    accepted.set(req.id, String(body?.stored?.file));
  }
  return null;
}

test(`fuzz: ${RUNS * BATCH} generated and mutated requests at the real server (seed ${SEED})`, async () => {
  const started = performance.now();
  console.log(`fuzz seed: ${SEED} (FUZZ_SEED=${SEED} replays it)`);
  await fc.assert(
    fc.asyncProperty(fc.array(request, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
      const problems = (await Promise.all(batch.map(send))).filter((p): p is string => p !== null);
      if (problems.length) throw new Error(problems.join("\n"));
      if (server.proc.exitCode !== null) throw new Error("the server died");
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  // Still alive and healthy.
  const health = await fetch(`${server.url}/health`);
  expect(health.status).toBe(200);
  expect(((await health.json()) as { store: { writable: boolean } }).store.writable).toBe(true);
  expect(await server.stop()).toBe(0);

  // The day files parse and hold exactly the accepted reports, each once, in the file the 201 named.
  const check = checkDir(server.dataDir);
  expect(check.broken).toEqual([]);
  const stored = new Map<string, string>();
  const twice: string[] = [];
  for (const [file, ids] of check.files) {
    for (const id of ids) {
      if (stored.has(id)) twice.push(id);
      stored.set(id, file);
    }
  }
  expect(twice).toEqual([]);
  expect([...stored.keys()].filter((id) => !accepted.has(id))).toEqual([]);
  expect([...accepted.keys()].filter((id) => stored.get(id) !== accepted.get(id))).toEqual([]);
  // Nothing but day files, the journal and the store's own files in the data directory.
  const strays = readdirSync(server.dataDir).filter(
    (name) =>
      !/^[0-9a-f.:-]+_\d{4}-\d{2}-\d{2}\.json$/.test(name) &&
      ![".journal", "tokens.json", "relevo.db", "relevo.db-wal", "relevo.db-shm"].includes(name),
  );
  expect(strays).toEqual([]);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const statuses = [...stats.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`);
  console.log(
    `requests fuzzed: ${stats.requests} in ${seconds} s (seed ${SEED}); accepted 201: ${accepted.size} into ${check.files.size} day files; statuses ${statuses.join(" ")}; 500s: 0; day files parse: ${check.files.size}/${check.files.size}`,
  );
}, 170_000);
