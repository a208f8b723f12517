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

/**
 * How the report is kept: text (pglz, PostgreSQL's default TOAST compression, or lz4) against jsonb. The same
 * elements inserted 16 per statement, then one host's day of 1,000 read back as /query would.
 */
async function storage(sql: SQL, cluster: PgCluster, body: string): Promise<void> {
  const kinds = [
    { name: "text, pglz", type: "text COMPRESSION pglz", read: "x" },
    { name: "text, lz4", type: "text COMPRESSION lz4", read: "x" },
    { name: "jsonb", type: "jsonb", read: "x::text" },
  ];
  console.log("\nstorage of 2,000 elements (16 per INSERT), then 1,000 read back in order:");
  for (const kind of kinds) {
    await sql.unsafe(
      `CREATE TABLE bench_${kind.name.replace(/\W+/g, "_")} (n int PRIMARY KEY, x ${kind.type})`,
    );
  }
  for (const kind of kinds) {
    const table = `bench_${kind.name.replace(/\W+/g, "_")}`;
    const cpu0 = clusterCpu(cluster);
    const t0 = performance.now();
    for (let n = 0; n < 2000; n += 16) {
      const rows = Array.from({ length: 16 }, (_, i) => ({
        n: n + i,
        x: body.replace(ID_PLACEHOLDER, Bun.randomUUIDv7()),
      }));
      await sql`INSERT INTO ${sql(table)} ${sql(rows)}`;
    }
    const insertMs = performance.now() - t0;
    const cpu = clusterCpu(cluster) - cpu0;
    const t1 = performance.now();
    const back = (await sql.unsafe(
      `SELECT ${kind.read} AS x FROM ${table} WHERE n < 1000 ORDER BY n`,
    )) as Array<{ x: string }>;
    const readMs = performance.now() - t1;
    const [size] = await sql.unsafe(`SELECT pg_size_pretty(pg_total_relation_size('${table}')) AS s`);
    const same = back[0]?.x.length === body.length;
    console.log(
      `  ${kind.name.padEnd(11)} insert ${fmt(insertMs / 2000, 3)} ms/report (PostgreSQL CPU ${fmt((cpu * 1000) / 2000, 3)} ms), read ${fmt(readMs, 0)} ms, ${size?.s} on disk, bytes as sent: ${same ? "yes" : "no (keys reordered, spaces changed)"}`,
    );
  }
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
      const [row] = await sql`SELECT (SELECT count(*)::int FROM reports) AS n,
        pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS size
        FROM pg_class c WHERE c.relname LIKE 'reports_2%' AND c.relkind = 'r'`;
      console.log(`(PostgreSQL holds ${row?.n} reports in ${row?.size} after the run)`);
      await storage(sql, cluster, body);
      await sql.close();
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
