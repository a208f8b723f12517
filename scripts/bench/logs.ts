// `bun run bench logs`: central log ingest and query, client and server on this machine.
// 1. Durable ingest (synchronous=FULL) over HTTP in batches of 100 entries at concurrency 16, against the
//    real server and, in the same run, a bare bun:sqlite + group-commit server without validation.
// 2. Single-entry POSTs at concurrency 16, both servers.
// 3. GET /logs page latency for the common filters over 2 M stored entries.
import type { Database } from "bun:sqlite";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openStateDb } from "../../src/server/db/state-db.ts";
import { BUN, REPO, startServer, tempDir } from "../../test/helpers/server.ts";
import { fmt, percentile } from "./_stats.ts";

const SERVICES = Array.from({ length: 20 }, (_, i) => `service-${i}`);
const SEVERITY_MIX = [
  ["DEBUG", 0.2],
  ["INFO", 0.6],
  ["WARNING", 0.12],
  ["ERROR", 0.07],
  ["CRITICAL", 0.01],
] as const;
const LEVEL = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 } as const;
const WORDS = ["request", "served", "cache", "miss", "user", "login", "timeout", "retry", "disk", "queue"];

let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)] as T;
function severity(): keyof typeof LEVEL {
  let r = random();
  for (const [name, share] of SEVERITY_MIX) {
    if (r < share) return name;
    r -= share;
  }
  return "INFO";
}
const message = (n: number) =>
  `${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)} id=${n} took ${Math.floor(random() * 900)} ms on worker ${n % 64}`;

function entry(n: number, at: number) {
  return {
    timestamp: new Date(at).toISOString(),
    service: pick(SERVICES),
    severity: severity(),
    message: message(n),
  };
}

/** Distinct bodies, pre-encoded, so the client spends its CPU on sending, not on JSON. */
function bodies(count: number, perBody: number): Uint8Array[] {
  const encoder = new TextEncoder();
  const now = Date.now();
  return Array.from({ length: count }, (_, b) => {
    const list = Array.from({ length: perBody }, (_, i) =>
      entry(b * perBody + i, now - (count - b) * 1000 + i),
    );
    return encoder.encode(JSON.stringify(perBody === 1 ? list[0] : list));
  });
}

interface LoadResult {
  perSecond: number;
  entriesPerSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

async function load(
  url: string,
  payloads: Uint8Array[],
  perBody: number,
  requests: number,
  concurrency: number,
) {
  const latencies = new Array<number>(requests);
  let next = 0;
  let failures = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < requests; i = next++) {
      const t0 = performance.now();
      const res = await fetch(`${url}/logs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: payloads[i % payloads.length],
      });
      await res.arrayBuffer();
      latencies[i] = performance.now() - t0;
      if (res.status !== 201) failures++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  return {
    perSecond: requests / seconds,
    entriesPerSecond: (requests * perBody) / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    failures,
  } satisfies LoadResult;
}

interface Target {
  url: string;
  stop(): Promise<unknown>;
}

async function bareServer(): Promise<Target> {
  const proc = Bun.spawn(
    [BUN, join(REPO, "scripts", "bench", "_bare-logs-server.ts"), tempDir("relevo-bare-")],
    {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  const reader = proc.stderr.getReader();
  let text = "";
  while (!/listening on (\S+)/.test(text)) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`bare server did not start: ${text}`);
    text += new TextDecoder().decode(chunk.value);
  }
  reader.releaseLock();
  const url = /listening on (\S+)/.exec(text)?.[1] as string;
  return {
    url,
    stop: async () => {
      proc.kill();
      await proc.exited;
    },
  };
}

async function realServer(dataDir?: string): Promise<Target> {
  return startServer(["--rate-limit", "0"], dataDir);
}

async function ingest(batches: number, singles: number): Promise<void> {
  const batchBodies = bodies(200, 100);
  const singleBodies = bodies(2000, 1);
  const rows: [string, string, LoadResult][] = [];
  // Alternating rounds so both servers see the same machine load; the better round of each is kept.
  for (let round = 0; round < 2; round++) {
    for (const [name, start] of [
      ["relevo", realServer],
      ["bare", bareServer],
    ] as const) {
      const target = await start();
      try {
        await load(target.url, batchBodies, 100, 50, 16);
        rows.push([name, "batch 100", await load(target.url, batchBodies, 100, batches, 16)]);
        rows.push([name, "single", await load(target.url, singleBodies, 1, singles, 16)]);
      } finally {
        await target.stop();
      }
    }
  }
  const best = (name: string, kind: string) =>
    rows
      .filter(([n, k]) => n === name && k === kind)
      .map(([, , r]) => r)
      .sort((a, b) => b.entriesPerSecond - a.entriesPerSecond)[0] as LoadResult;
  console.log(
    "\nserver   load       requests/s  entries/s   p50 ms   p99 ms  failed   (best of 2 rounds, conc 16)",
  );
  for (const kind of ["batch 100", "single"]) {
    for (const name of ["relevo", "bare"]) {
      const r = best(name, kind);
      console.log(
        `${name.padEnd(8)} ${kind.padEnd(10)} ${fmt(r.perSecond, 0).padStart(10)} ${fmt(r.entriesPerSecond, 0).padStart(10)} ${fmt(r.p50, 2).padStart(8)} ${fmt(r.p99, 2).padStart(8)} ${String(r.failures).padStart(7)}`,
      );
    }
  }
  const ratio = best("relevo", "batch 100").entriesPerSecond / best("bare", "batch 100").entriesPerSecond;
  console.log(`relevo / bare, batches: ${fmt(ratio, 2)}`);
}

/** 2 M entries straight into relevo.db, about one per second of the last 23 days, 20 services. */
export function fill(dataDir: string, count: number): void {
  const state = openStateDb(dataDir, { now: new Date() });
  const db: Database = state.db;
  const insert = db.prepare(
    "INSERT INTO logs (ts, received, service, level, message, host, attributes, entry_id) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
  );
  const start = Date.now() - count * 1000;
  const chunk = 50_000;
  for (let done = 0; done < count; done += chunk) {
    db.transaction(() => {
      for (let n = done; n < Math.min(count, done + chunk); n++) {
        const at = (start + n * 1000 + Math.floor(random() * 5000)) * 1000;
        const text = message(n);
        insert.run(at, at + 2000, pick(SERVICES), LEVEL[severity()], text, `host-${n % 50}`);
      }
    })();
  }
  state.close();
}

async function queries(entries: number, samples: number): Promise<void> {
  const dataDir = tempDir("relevo-logs-query-");
  const t0 = performance.now();
  fill(dataDir, entries);
  console.log(`\nfilled ${entries} entries in ${fmt((performance.now() - t0) / 1000, 1)} s`);
  const server = await realServer(dataDir);
  const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString();
  const shapes: [string, string][] = [
    ["newest page", "limit=100"],
    ["service", "service=service-7&limit=100"],
    ["service + severity ERROR", "service=service-7&severity=ERROR&limit=100"],
    ["service + min_severity WARNING", "service=service-7&min_severity=WARNING&limit=100"],
    ["severity CRITICAL", "severity=CRITICAL&limit=100"],
    ["min_severity ERROR", "min_severity=ERROR&limit=100"],
    ["one day, ascending", `timestamp_start=${day(10)}&timestamp_end=${day(9)}&order=asc&limit=100`],
    [
      "service + one hour",
      `service=service-3&timestamp_start=${day(5)}&timestamp_end=${new Date(Date.now() - 5 * 86_400_000 + 3_600_000).toISOString()}&limit=100`,
    ],
    [
      "received in the last hour",
      `received_at_start=${new Date(Date.now() - 3_600_000).toISOString()}&limit=100`,
    ],
    ["q substring (frequent)", "q=timeout&limit=100"],
    ["service + q", "service=service-7&q=login%20user&limit=100"],
  ];
  console.log("\nGET /logs over HTTP                       p50 ms   p99 ms  rows  (then page 2 by cursor)");
  try {
    for (const [name, query] of shapes) {
      const first: number[] = [];
      const second: number[] = [];
      let rows = 0;
      for (let i = 0; i < samples; i++) {
        let t = performance.now();
        const page = (await (await fetch(`${server.url}/logs?${query}`)).json()) as {
          count: number;
          next: string | null;
        };
        first.push(performance.now() - t);
        rows = page.count;
        if (page.next) {
          t = performance.now();
          await (await fetch(`${server.url}/logs?${query}&cursor=${page.next}`)).arrayBuffer();
          second.push(performance.now() - t);
        }
      }
      first.sort((a, b) => a - b);
      second.sort((a, b) => a - b);
      console.log(
        `${name.padEnd(40)} ${fmt(percentile(first, 50), 2).padStart(8)} ${fmt(percentile(first, 99), 2).padStart(8)} ${String(rows).padStart(5)}  p2 p50 ${fmt(percentile(second, 50), 2)} p99 ${fmt(percentile(second, 99), 2)}`,
      );
    }
  } finally {
    await server.stop();
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      batches: { type: "string", default: "3000" },
      singles: { type: "string", default: "20000" },
      entries: { type: "string", default: "2000000" },
      samples: { type: "string", default: "200" },
      quick: { type: "boolean", default: false },
      only: { type: "string" },
    },
  });
  const quick = values.quick;
  console.log(`relevo logs benchmark: ${navigator.hardwareConcurrency} cores, bun ${Bun.version}`);
  if (values.only !== "query") {
    await ingest(quick ? 300 : Number(values.batches), quick ? 2000 : Number(values.singles));
  }
  if (values.only !== "ingest") {
    await queries(quick ? 200_000 : Number(values.entries), quick ? 50 : Number(values.samples));
  }
}
