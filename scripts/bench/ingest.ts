// `bun run bench ingest`: realistic 25 KB reports POSTed over loopback to the real server, durable and with
// --fsync never, at concurrency 1 and 16, from one host and from 10,000 distinct hosts (X-Forwarded-For
// through --trust-proxy 127.0.0.1); the per-request cost of reports 1-100 against 9,901-10,000 of one day
// file; and, where gunicorn and Flask are installed, the seed's design measured in the same run. With
// --database, PostgreSQL side by side with the file store instead (_pg-ingest.ts).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Report } from "../../src/shared/report.ts";
import { sampleReport } from "../../test/helpers/report.ts";
import { REPO, startServer, tempDir } from "../../test/helpers/server.ts";
import { fmt, median, percentile, rssMb } from "./_stats.ts";

const ID_PLACEHOLDER = "00000000-0000-7000-8000-000000000000";
const encoder = new TextEncoder();

/** A report of about `bytes` JSON bytes: this machine's recorded report with its process list grown. */
export function reportOfSize(bytes: number): string {
  const base: Report = sampleReport({ report_id: ID_PLACEHOLDER });
  const model = base.processes.list[0] ?? {
    pid: 1,
    ppid: 0,
    name: "init",
    user: "root",
    cpu_percent: 0,
    memory_rss_bytes: 4096,
    started_at: null,
    command: "/sbin/init",
  };
  const list = [...base.processes.list];
  let pid = 100_000;
  while (JSON.stringify({ ...base, processes: { total: list.length, list } }).length < bytes) {
    list.push({ ...model, pid: pid++, command: `${model.command} --worker ${pid}` });
  }
  return JSON.stringify({ ...base, processes: { total: list.length, list } });
}

/** The n-th of 10,000 distinct client addresses, 10.0.0.0 upwards. */
const hostIp = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

interface Load {
  url: string;
  body: string;
  requests: number;
  concurrency: number;
  hosts: number;
  firstHost?: number;
}

interface LoadResult {
  perSecond: number;
  latencies: number[];
  failures: number;
}

async function load({ url, body, requests, concurrency, hosts, firstHost = 0 }: Load): Promise<LoadResult> {
  const latencies = new Array<number>(requests);
  // Bytes with the id patched in place: the client on this 2-core machine should cost the server little CPU.
  const template = encoder.encode(body);
  const idAt = body.indexOf(ID_PLACEHOLDER);
  let next = 0;
  let failures = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < requests; i = next++) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (hosts > 1) headers["x-forwarded-for"] = hostIp(firstHost + (i % hosts));
      const t0 = performance.now();
      const bytes = template.slice();
      encoder.encodeInto(Bun.randomUUIDv7(), bytes.subarray(idAt, idAt + 36));
      const res = await fetch(`${url}/upload`, { method: "POST", headers, body: bytes });
      await res.arrayBuffer();
      latencies[i] = performance.now() - t0;
      if (res.status !== 201 && res.status !== 200) failures++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: requests / seconds, latencies, failures };
}

interface Row {
  /** Which server: this checkout, or the --baseline one. */
  server: string;
  mode: string;
  concurrency: number;
  hosts: number;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  rss: number;
  failures: number;
}

async function scenario(
  fsync: "always" | "never",
  concurrency: number,
  hosts: number,
  requests: number,
  body: string,
  repo: { name: string; dir: string },
): Promise<Row> {
  // Rate limiting off: the benchmark is one client sending as fast as it can.
  const server = await startServer(
    ["--fsync", fsync, "--trust-proxy", "127.0.0.1", "--no-auth", "--rate-limit", "0"],
    tempDir(),
    repo.dir,
  );
  try {
    await load({
      url: server.url,
      body,
      requests: 200,
      concurrency,
      hosts: Math.min(hosts, 200),
      firstHost: 50_000,
    });
    const result = await load({ url: server.url, body, requests, concurrency, hosts });
    const sorted = [...result.latencies].sort((a, b) => a - b);
    return {
      server: repo.name,
      mode: fsync === "always" ? "durable" : "fsync never",
      concurrency,
      hosts,
      requests,
      perSecond: result.perSecond,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      rss: rssMb(server.proc.pid).rss,
      failures: result.failures,
    };
  } finally {
    await server.stop();
  }
}

/** Median latency of the first and the last 100 of `count` sequential uploads to one day file. */
async function growth(url: string, body: string, count: number): Promise<{ first: number; last: number }> {
  const result = await load({ url, body, requests: count, concurrency: 1, hosts: 1 });
  return { first: median(result.latencies.slice(0, 100)), last: median(result.latencies.slice(-100)) };
}

async function seedServer(): Promise<{ url: string; stop: () => Promise<void> } | null> {
  const peers = join(REPO, "..", "shared", "peers", "flask_psutil");
  const gunicorn = Bun.which("gunicorn");
  if (!gunicorn || !existsSync(peers)) return null;
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const proc = Bun.spawn([gunicorn, "-w", "1", "-b", `127.0.0.1:${port}`, "--chdir", peers, "app:app"], {
    env: { ...process.env, INVENTORY_DATA_DIR: tempDir("relevo-seed-") },
    stdout: "ignore",
    stderr: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      const stop = async () => {
        proc.kill();
        await proc.exited;
      };
      return { url, stop };
    }
    await Bun.sleep(100);
  }
  proc.kill();
  return null;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: "string", default: "25000" },
      requests: { type: "string", default: "4000" },
      growth: { type: "string", default: "10000" },
      "seed-uploads": { type: "string", default: "300" },
      quick: { type: "boolean", default: false },
      // Another checkout (with node_modules) run through the same scenarios, alternating with this one.
      baseline: { type: "string" },
      // PostgreSQL side by side with the file store instead (auto: a cluster of its own): _pg-ingest.ts.
      database: { type: "string" },
      rounds: { type: "string", default: "3" },
    },
    strict: true,
  });
  if (values.database) {
    const { runPgIngest } = await import("./_pg-ingest.ts");
    await runPgIngest(values.database, {
      requests: values.quick ? 500 : Number(values.requests === "4000" ? 3000 : values.requests),
      rounds: Number(values.rounds),
      size: Number(values.size),
    });
    return;
  }
  const repos = [{ name: "this", dir: REPO }];
  if (values.baseline) {
    if (!existsSync(join(values.baseline, "src", "server", "cli.ts")))
      throw new Error(`--baseline ${values.baseline}: no src/server/cli.ts there`);
    repos.push({ name: "baseline", dir: values.baseline });
  }
  const quick = values.quick;
  const body = reportOfSize(Number(values.size));
  const requests = quick ? 500 : Number(values.requests);
  const growthCount = quick ? 1000 : Number(values.growth);
  console.log(
    `relevo ingest benchmark: ${body.length} byte reports, ${navigatorCores()} cores, bun ${Bun.version}`,
  );

  const rows: Row[] = [];
  for (const fsync of ["always", "never"] as const) {
    for (const concurrency of [1, 16]) {
      for (const hosts of [1, 10_000]) {
        // The 10,000-host run at concurrency 16 sends exactly one report per host: the RSS target's case.
        const n =
          hosts === 10_000 && concurrency === 16 && !quick
            ? 10_000
            : concurrency === 1
              ? Math.min(requests, 2000)
              : requests;
        for (const repo of repos) rows.push(await scenario(fsync, concurrency, hosts, n, body, repo));
      }
    }
  }
  console.log(
    "\nserver    mode          conc  hosts   requests  reports/s   p50 ms   p99 ms  server RSS MB  failed",
  );
  for (const r of rows) {
    const base = rows.find(
      (b) =>
        b.server === "baseline" &&
        r.server === "this" &&
        b.mode === r.mode &&
        b.concurrency === r.concurrency &&
        b.hosts === r.hosts,
    );
    const ratio = base ? `  ${fmt(r.perSecond / base.perSecond, 2)}x baseline` : "";
    console.log(
      `${r.server.padEnd(9)} ${r.mode.padEnd(13)} ${String(r.concurrency).padStart(4)} ${String(r.hosts).padStart(6)} ${String(r.requests).padStart(10)} ${fmt(r.perSecond, 0).padStart(10)} ${fmt(r.p50, 2).padStart(8)} ${fmt(r.p99, 2).padStart(8)} ${fmt(r.rss, 0).padStart(14)} ${String(r.failures).padStart(7)}${ratio}`,
    );
  }

  const server = await startServer(["--rate-limit", "0"]);
  const own = await growth(server.url, body, growthCount);
  await server.stop();
  console.log(
    `\none day file, durable, sequential: reports 1-100 median ${fmt(own.first, 2)} ms, reports ${growthCount - 99}-${growthCount} median ${fmt(own.last, 2)} ms (ratio ${fmt(own.last / own.first, 2)}x)`,
  );

  const seed = await seedServer();
  if (!seed) {
    console.log(
      "\nseed's design: skipped (needs gunicorn and Flask: apt-get install gunicorn python3-flask)",
    );
    return;
  }
  const seedCount = Number(values["seed-uploads"]);
  const seedRun = await load({ url: seed.url, body, requests: seedCount, concurrency: 1, hosts: 1 });
  await seed.stop();
  const ownServer = await startServer(["--rate-limit", "0"]);
  const ownRun = await load({ url: ownServer.url, body, requests: seedCount, concurrency: 1, hosts: 1 });
  await ownServer.stop();
  const span = (xs: number[], from: number) => median(xs.slice(from, from + 100));
  const last = seedCount - 100;
  console.log(`\nside by side, sequential uploads to one day file (${seedCount} each, same report):`);
  console.log(
    `  reports 1-100:   seed (gunicorn, load+dump) ${fmt(span(seedRun.latencies, 0), 2)} ms, relevo ${fmt(span(ownRun.latencies, 0), 2)} ms`,
  );
  console.log(
    `  reports ${last + 1}-${seedCount}: seed ${fmt(span(seedRun.latencies, last), 2)} ms, relevo ${fmt(span(ownRun.latencies, last), 2)} ms`,
  );
  console.log(
    `  throughput: seed ${fmt(seedRun.perSecond, 0)}/s, relevo ${fmt(ownRun.perSecond, 0)}/s (relevo ${fmt(ownRun.perSecond / seedRun.perSecond, 1)}x)`,
  );
}

function navigatorCores(): number {
  return navigator.hardwareConcurrency;
}
