// `bun run bench read-load`: upload latency with --fsync always over a data directory of 2,000 day files,
// alone and while 8 readers loop on GET /files (issue 9 item 8: reads must not starve durable writes).
// Options: --files N, --uploads N, --readers N.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer, tempDir } from "../../test/helpers/server.ts";
import { fmt, percentile } from "./_stats.ts";
import { reportOfSize } from "./ingest.ts";

const ID_PLACEHOLDER = "00000000-0000-7000-8000-000000000000";
/** An upload that takes longer than this counts as timed out (the agent's own timeout is 30 s). */
const UPLOAD_TIMEOUT_MS = 30_000;

/** `count` day files of one small element each, over as many addresses and five past days. */
function seed(dir: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const ip = `10.1.${(i >> 8) & 255}.${i & 255}`;
    const date = `2026-11-${String(18 + (i % 5)).padStart(2, "0")}`;
    const element = `{"report_id":"${crypto.randomUUID()}","received_at":"${date}T10:00:00.000Z","source_ip":"${ip}"}`;
    writeFileSync(join(dir, `${ip}_${date}.json`), `[\n${element}\n]\n`);
  }
}

async function uploads(
  url: string,
  body: string,
  count: number,
): Promise<{ latencies: number[]; timedOut: number }> {
  const latencies: number[] = [];
  let timedOut = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    try {
      const res = await fetch(`${url}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body.replace(ID_PLACEHOLDER, Bun.randomUUIDv7()),
        signal: AbortSignal.timeout(UPLOAD_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`upload answered ${res.status}`);
      latencies.push(performance.now() - t0);
    } catch (error) {
      if ((error as Error).name !== "TimeoutError") throw error;
      timedOut++;
      latencies.push(UPLOAD_TIMEOUT_MS);
    }
  }
  return { latencies: latencies.sort((a, b) => a - b), timedOut };
}

/**
 * Readers looping on /files, in a process of their own so that their answers do not delay the uploading
 * client's own event loop; they print how many answers they got when stdin closes.
 */
function readers(url: string, count: number): { stop: () => Promise<number> } {
  const script = `
    let stop = false, answered = 0;
    process.stdin.on("data", () => { stop = true; });
    await Promise.all(Array.from({ length: ${count} }, async () => {
      while (!stop) { const res = await fetch(${JSON.stringify(`${url}/files`)}); await res.arrayBuffer(); answered++; }
    }));
    console.log(answered);`;
  const proc = Bun.spawn([process.execPath, "-e", script], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  return {
    async stop() {
      proc.stdin.write("stop\n");
      await proc.stdin.end();
      const out = await new Response(proc.stdout).text();
      await proc.exited;
      return Number(out.trim());
    },
  };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      files: { type: "string", default: "2000" },
      uploads: { type: "string", default: "200" },
      readers: { type: "string", default: "8" },
    },
  });
  const files = Number(values.files);
  const count = Number(values.uploads);
  const readerCount = Number(values.readers);
  const body = reportOfSize(25_000);
  const dir = tempDir("relevo-bench-read-");
  seed(dir, files);
  const server = await startServer(["--fsync", "always", "--rate-limit", "0"], dir);
  try {
    // Warm up: the first listing counts the files, and past days are validated in the background at start.
    await (await fetch(`${server.url}/files`)).arrayBuffer();
    await Bun.sleep(2000);
    await uploads(server.url, body, 20);
    const alone = await uploads(server.url, body, count);
    const reading = readers(server.url, readerCount);
    await Bun.sleep(500);
    const started = performance.now();
    const loaded = await uploads(server.url, body, count);
    const seconds0 = (performance.now() - started) / 1000;
    const reads = await reading.stop();
    const seconds = seconds0 + 0.5;
    console.log(
      `relevo read-load benchmark: ${files} day files, --fsync always, ${count} sequential uploads of ${body.length} bytes, bun ${Bun.version}\n`,
    );
    console.log("uploads                      p50 ms   p99 ms  timed out");
    const row = (name: string, r: { latencies: number[]; timedOut: number }) =>
      console.log(
        `${name.padEnd(26)} ${fmt(percentile(r.latencies, 50), 2).padStart(8)} ${fmt(percentile(r.latencies, 99), 2).padStart(8)} ${String(r.timedOut).padStart(10)}`,
      );
    row("alone", alone);
    row(`with ${readerCount} readers on /files`, loaded);
    console.log(
      `\n/files answered ${fmt(reads / seconds, 0)}/s meanwhile; p50 ratio loaded/alone ${fmt(percentile(loaded.latencies, 50) / percentile(alone.latencies, 50), 2)}x, p99 ratio ${fmt(percentile(loaded.latencies, 99) / percentile(alone.latencies, 99), 2)}x`,
    );
  } finally {
    await server.stop();
  }
}
