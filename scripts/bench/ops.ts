// `bun run bench ops [--requests 2000] [--rounds 3]`: what the operations parts cost. Uploads (25 KB
// reports, concurrency 16, 1,000 hosts through --trust-proxy) to two servers side by side, one plain and
// one with --alerts (thresholds that fire on every host, collector errors, silence, a log rate, a webhook
// receiver on 127.0.0.1), alternating rounds; then the time of a /metrics scrape over those hosts, with and
// without --metrics-per-host.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer, tempDir } from "../../test/helpers/server.ts";
import { fmt, median, percentile } from "./_stats.ts";
import { reportOfSize } from "./ingest.ts";

const ID = "00000000-0000-7000-8000-000000000000";
const encoder = new TextEncoder();
const hostIp = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

async function load(url: string, body: string, requests: number, concurrency: number, hosts: number) {
  const template = encoder.encode(body);
  const idAt = body.indexOf(ID);
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < requests; i = next++) {
      const bytes = template.slice();
      encoder.encodeInto(Bun.randomUUIDv7(), bytes.subarray(idAt, idAt + 36));
      const t0 = performance.now();
      const res = await fetch(`${url}/upload`, {
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

async function scrapeMs(url: string, times: number): Promise<{ ms: number; bytes: number }> {
  const runs: number[] = [];
  let bytes = 0;
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    bytes = (await (await fetch(`${url}/metrics`)).text()).length;
    runs.push(performance.now() - t0);
  }
  return { ms: median(runs), bytes };
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { requests: { type: "string", default: "2000" }, rounds: { type: "string", default: "3" } },
  });
  const requests = Number(values.requests);
  const rounds = Number(values.rounds);
  const receiver = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
  const rules = join(tempDir("relevo-bench-alerts-"), "alerts.json");
  writeFileSync(
    rules,
    JSON.stringify({
      webhooks: [{ name: "ops", url: `http://127.0.0.1:${receiver.port}/` }],
      rules: [
        { name: "cpu", type: "threshold", field: "cpu.load_percent", op: ">=", value: 0 },
        { name: "mem", type: "threshold", field: "memory.available_percent", op: "<", value: 101 },
        { name: "disk", type: "threshold", field: "disks.used_percent", op: ">", value: 90 },
        { name: "collectors", type: "collector_errors" },
        { name: "quiet", type: "silent", intervals: 3 },
        { name: "errors", type: "log_rate", severity_at_least: "ERROR", count: 10, window: "5m" },
      ],
    }),
  );
  const common = ["--trust-proxy", "127.0.0.1", "--no-auth", "--rate-limit", "0", "--metrics-public"];
  const plain = await startServer(common);
  const alerting = await startServer([...common, "--alerts", rules]);
  const perHost = await startServer([...common, "--metrics-per-host", "1000"]);
  const body = reportOfSize(25_000);
  const results: Record<string, { perSecond: number[]; latencies: number[] }> = {
    plain: { perSecond: [], latencies: [] },
    alerts: { perSecond: [], latencies: [] },
  };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, server] of [
        ["plain", plain],
        ["alerts", alerting],
      ] as const) {
        const r = await load(server.url, body, requests, 16, 1000);
        if (r.failures) throw new Error(`${name}: ${r.failures} uploads failed`);
        results[name]?.perSecond.push(r.perSecond);
        console.log(`  round ${round + 1} ${name.padEnd(7)} ${fmt(r.perSecond, 0)}/s`);
        results[name]?.latencies.push(...r.latencies);
      }
    }
    await load(perHost.url, body, 1000, 16, 1000);
    console.log(
      `uploads: ${requests} x ${rounds} rounds (round 1 of alerts fires 2,000 alerts), 25 KB, concurrency 16, 1,000 hosts, fsync always`,
    );
    for (const [name, r] of Object.entries(results)) {
      const sorted = [...r.latencies].sort((a, b) => a - b);
      console.log(
        `  ${name.padEnd(7)} median ${fmt(median(r.perSecond), 0)}/s  p50 ${fmt(percentile(sorted, 50), 2)} ms  p99 ${fmt(percentile(sorted, 99), 2)} ms`,
      );
    }
    const ratio = median(results.alerts?.perSecond ?? []) / median(results.plain?.perSecond ?? []);
    console.log(`  alerts/plain throughput ratio ${fmt(ratio, 3)}`);
    const a = await scrapeMs(plain.url, 21);
    const b = await scrapeMs(perHost.url, 21);
    console.log(`/metrics scrape, 1,000 hosts known (median of 21):`);
    console.log(`  no per-host series       ${fmt(a.ms, 2)} ms, ${a.bytes} bytes`);
    console.log(`  --metrics-per-host 1000  ${fmt(b.ms, 2)} ms, ${b.bytes} bytes`);
    const firing = (await (await fetch(`${alerting.url}/api/alerts`)).json()) as { firing: unknown[] };
    console.log(`alerts firing after the run: ${firing.firing.length} (2 rules x 1,000 hosts expected)`);
  } finally {
    await plain.stop();
    await alerting.stop();
    await perHost.stop();
    receiver.stop(true);
  }
}
