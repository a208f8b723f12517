// `bun run bench hostile [--seconds 20] [--rate 100] [--attackers 3]`: a normal 25 KB upload's latency from
// one address, first alone, then while other addresses send hostile bodies (issue 9, item 7) as fast as the
// rate limit lets them: 8 KB of gzip inflating to an 8 MiB `["a","a",…]`, an object with 700k keys (gzip),
// a 4-million-deep array (gzip), and a million-item list inside an object (gzip). Side by side in one run,
// on one server (real process, durable, --trust-proxy 127.0.0.1 so each sender is its own address).
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { sampleReport } from "../../test/helpers/report.ts";
import { startServer } from "../../test/helpers/server.ts";
import { fmt, percentile } from "./_stats.ts";

const MiB = 1024 * 1024;

function hostileBodies(): Array<{ name: string; body: Uint8Array }> {
  const arrayOfA = `[${new Array(2 * MiB).fill('"a"').join(",")}]`;
  const manyKeys = `{${Array.from({ length: 700_000 }, (_, i) => `"k${i}":1`).join(",")}}`;
  const deep = "[".repeat(4 * MiB) + "]".repeat(4 * MiB);
  return [
    { name: "8 MiB array", body: gzipSync(arrayOfA) },
    { name: "700k keys", body: gzipSync(manyKeys) },
    { name: "4M-deep array", body: gzipSync(deep) },
    { name: "1M-item list in an object", body: gzipSync(`{"os":${arrayOfA}}`) },
  ];
}

interface Normal {
  latencies: number[];
  failures: number;
}

/** Sequential normal uploads from 10.0.0.1, paced at `perSecond`, for `seconds`. */
async function normalUploads(url: string, seconds: number, perSecond: number): Promise<Normal> {
  const latencies: number[] = [];
  let failures = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const slot = performance.now() + 1000 / perSecond;
    const t0 = performance.now();
    const res = await fetch(`${url}/upload`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": "10.0.0.1" },
      body: JSON.stringify(sampleReport()),
    });
    await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    if (res.status !== 201) failures++;
    const wait = slot - performance.now();
    if (wait > 0) await Bun.sleep(wait);
  }
  return { latencies, failures };
}

interface Attack {
  sent: number;
  byStatus: Map<number, number>;
  latencies: number[];
}

/** One hostile address sending at `perSecond`, up to 4 in flight, until `signal` aborts. */
async function attacker(
  url: string,
  ip: string,
  perSecond: number,
  bodies: Array<{ body: Uint8Array }>,
  signal: AbortSignal,
  stats: Attack,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let n = 0;
  while (!signal.aborted) {
    const slot = performance.now() + 1000 / perSecond;
    if (inFlight.size < 4) {
      const { body } = bodies[n++ % bodies.length] as { body: Uint8Array };
      const t0 = performance.now();
      const request = fetch(`${url}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-encoding": "gzip", "x-forwarded-for": ip },
        body,
      })
        .then(async (res) => {
          await res.arrayBuffer();
          stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
          stats.latencies.push(performance.now() - t0);
        })
        .catch(() => {
          stats.byStatus.set(0, (stats.byStatus.get(0) ?? 0) + 1);
        })
        .finally(() => inFlight.delete(request));
      inFlight.add(request);
      stats.sent++;
    }
    const wait = slot - performance.now();
    if (wait > 0) await Bun.sleep(wait);
  }
  await Promise.all(inFlight);
}

function row(label: string, result: Normal): string {
  const sorted = [...result.latencies].sort((a, b) => a - b);
  return `${label.padEnd(34)} ${String(sorted.length).padStart(6)} ${fmt(percentile(sorted, 50), 2).padStart(8)} ${fmt(percentile(sorted, 99), 2).padStart(8)} ${fmt(sorted.at(-1) ?? Number.NaN, 1).padStart(8)} ${String(result.failures).padStart(6)}`;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "20" },
      rate: { type: "string", default: "100" },
      attackers: { type: "string", default: "3" },
    },
  });
  const seconds = Number(values.seconds);
  const rate = Number(values.rate);
  const attackers = Number(values.attackers);
  const bodies = hostileBodies();
  console.log(
    `hostile bodies (gzip bytes): ${bodies.map((b) => `${b.name} ${b.body.length}`).join(", ")}; ${attackers} addresses at --rate-limit ${rate}/s each; normal uploads 20/s from one address, ${seconds} s per phase`,
  );
  const server = await startServer(["--trust-proxy", "127.0.0.1", "--rate-limit", String(rate)]);
  try {
    await normalUploads(server.url, 2, 20); // warm-up
    const quiet = await normalUploads(server.url, seconds, 20);
    const stop = new AbortController();
    const stats: Attack = { sent: 0, byStatus: new Map(), latencies: [] };
    const attacks = Array.from({ length: attackers }, (_, i) =>
      attacker(server.url, `10.66.0.${i + 1}`, rate, bodies, stop.signal, stats),
    );
    const loaded = await normalUploads(server.url, seconds, 20);
    stop.abort();
    await Promise.all(attacks);
    console.log(
      `${"normal 25 KB upload".padEnd(34)} ${"n".padStart(6)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)} ${"failed".padStart(6)}`,
    );
    console.log(row("alone", quiet));
    console.log(row("while hostile bodies arrive", loaded));
    const quietP99 = percentile(
      [...quiet.latencies].sort((a, b) => a - b),
      99,
    );
    const loadedP99 = percentile(
      [...loaded.latencies].sort((a, b) => a - b),
      99,
    );
    const hostile = [...stats.latencies].sort((a, b) => a - b);
    const statuses = [...stats.byStatus].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`);
    console.log(
      `hostile: ${stats.sent} sent (${fmt(stats.sent / seconds, 0)}/s), answers ${statuses.join(" ")}, p50 ${fmt(percentile(hostile, 50), 2)} ms, p99 ${fmt(percentile(hostile, 99), 2)} ms`,
    );
    console.log(`p99 under attack / alone: ${fmt(loadedP99 / quietP99, 2)}x (target: p99 < 50 ms)`);
  } finally {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
}
