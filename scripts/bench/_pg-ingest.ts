// `bun run bench ingest --database auto|postgres://...`: durable ingest of 25 KB reports at concurrency 16
// from 1,000 hosts, side by side in one run and alternating rounds: the file store, one server on PostgreSQL,
// two servers on the same PostgreSQL (requests alternating between them, as a load balancer would). CPU per
// report of the server(s) and, for a cluster this benchmark starts itself (`auto`, fsync on), of PostgreSQL.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { type PgCluster, startPostgres } from "../../test/helpers/postgres.ts";
import { type RunningServer, startServer } from "../../test/helpers/server.ts";
import { fmt, median, percentile } from "./_stats.ts";
import { reportOfSize } from "./ingest.ts";

const ID_PLACEHOLDER = "00000000-0000-7000-8000-000000000000";
const encoder = new TextEncoder();
const TICK = 100; // clock ticks per second on Linux

/** CPU seconds of a process (and, with children, of the ones it has reaped). */
function cpuOf(pid: number, withChildren = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const own = Number(f[11]) + Number(f[12]);
    return (withChildren ? own + Number(f[13]) + Number(f[14]) : own) / TICK;
  } catch {
    return 0;
  }
}

/** CPU seconds of a PostgreSQL cluster: the postmaster, the backends it reaped, and the live ones. */
function clusterCpu(cluster: PgCluster): number {
  const pid = Number(readFileSync(join(cluster.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
  let total = cpuOf(pid, true);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) total += cpuOf(Number(entry));
    } catch {}
  }
  return total;
}

const hostIp = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

async function load(urls: string[], body: string, requests: number, concurrency: number, hosts: number) {
  const latencies: number[] = [];
  const template = encoder.encode(body);
  const idAt = body.indexOf(ID_PLACEHOLDER);
  let next = 0;
  let failures = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < requests; i = next++) {
      const bytes = template.slice();
      encoder.encodeInto(Bun.randomUUIDv7(), bytes.subarray(idAt, idAt + 36));
      const t0 = performance.now();
      const res = await fetch(`${urls[i % urls.length]}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": hostIp(i % hosts) },
        body: bytes,
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - t0);
      if (res.status !== 201) failures++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { perSecond: requests / ((performance.now() - started) / 1000), latencies, failures };
}

interface Row {
  name: string;
  perSecond: number;
  p50: number;
  p99: number;
  serverMs: number;
  dbMs: number;
  failures: number;
}

export async function runPgIngest(
  database: string,
  options: { requests: number; rounds: number; size: number },
) {
  const cluster = database === "auto" ? await startPostgres({ fsync: true }) : null;
  const url = cluster ? await cluster.createDatabase("bench") : database;
  const body = reportOfSize(options.size);
  const flags = ["--trust-proxy", "127.0.0.1", "--no-auth", "--rate-limit", "0", "--max-uploads", "1024"];
  const scenarios: Array<{ name: string; args: string[]; count: number }> = [
    { name: "file store, 1 server", args: [], count: 1 },
    { name: "PostgreSQL, 1 server", args: ["--database", url], count: 1 },
    { name: "PostgreSQL, 2 servers", args: ["--database", url], count: 2 },
  ];
  const results = new Map<string, Row[]>();
  console.log(
    `PostgreSQL ingest: ${body.length} byte reports, concurrency 16, 1,000 hosts, ${options.requests} requests x ${options.rounds} rounds, ${navigator.hardwareConcurrency} cores${cluster ? ", own cluster (fsync on, synchronous_commit on)" : ""}`,
  );
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Alternating order, so a machine that slows down over the run does not favour one.
      const order = round % 2 ? [...scenarios].reverse() : scenarios;
      for (const scenario of order) {
        const servers: RunningServer[] = [];
        for (let i = 0; i < scenario.count; i++)
          servers.push(await startServer([...flags, ...scenario.args]));
        try {
          const urls = servers.map((s) => s.url);
          await load(urls, body, 300, 16, 1000);
          const cpu0 = servers.reduce((sum, s) => sum + cpuOf(s.proc.pid), 0);
          const db0 = cluster && scenario.args.length ? clusterCpu(cluster) : 0;
          const run = await load(urls, body, options.requests, 16, 1000);
          const cpu1 = servers.reduce((sum, s) => sum + cpuOf(s.proc.pid), 0);
          const db1 = cluster && scenario.args.length ? clusterCpu(cluster) : 0;
          const sorted = [...run.latencies].sort((a, b) => a - b);
          const row: Row = {
            name: scenario.name,
            perSecond: run.perSecond,
            p50: percentile(sorted, 50),
            p99: percentile(sorted, 99),
            serverMs: ((cpu1 - cpu0) * 1000) / options.requests,
            dbMs: cluster && scenario.args.length ? ((db1 - db0) * 1000) / options.requests : Number.NaN,
            failures: run.failures,
          };
          results.set(scenario.name, [...(results.get(scenario.name) ?? []), row]);
        } finally {
          for (const s of servers) await s.stop();
        }
      }
    }
    if (cluster) {
      const sql = new SQL({ url, max: 1 });
      const [row] =
        await sql`SELECT pg_size_pretty(pg_total_relation_size('reports')) AS size, count(*)::int AS n FROM reports`;
      await sql.close();
      console.log(`(PostgreSQL holds ${row?.n} reports in ${row?.size} after the run)`);
    }
  } finally {
    await cluster?.stop();
  }
  const file = median((results.get(scenarios[0]?.name as string) ?? []).map((r) => r.perSecond));
  console.log(
    "\nbackend                  reports/s  x file   p50 ms   p99 ms  server CPU ms/report  PostgreSQL CPU ms/report  failed",
  );
  for (const scenario of scenarios) {
    const rows = results.get(scenario.name) ?? [];
    const m = (pick: (r: Row) => number) => median(rows.map(pick));
    console.log(
      `${scenario.name.padEnd(24)} ${fmt(
        m((r) => r.perSecond),
        0,
      ).padStart(9)} ${fmt(m((r) => r.perSecond) / file, 2).padStart(7)} ${fmt(
        m((r) => r.p50),
        1,
      ).padStart(8)} ${fmt(
        m((r) => r.p99),
        1,
      ).padStart(8)} ${fmt(
        m((r) => r.serverMs),
        2,
      ).padStart(21)} ${fmt(
        m((r) => r.dbMs),
        2,
      ).padStart(25)} ${String(rows.reduce((s, r) => s + r.failures, 0)).padStart(7)}`,
    );
  }
  console.log("(medians of the rounds; CPU per report summed over the servers of the scenario)");
}
