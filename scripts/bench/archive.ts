// `bun run bench archive [--rounds 3] [--files 30] [--duty 25]`: the real server archiving closed day files
// (25 KB reports, 100 per file) to s3rver on 127.0.0.1 while agents upload at the same time. Per round, side
// by side: the ingest rate while the archive runs, and the same load on the same warm server just before
// and just after the run, each window as long as the run; plus the archive's MB/s (day-file bytes compressed, uploaded and verified per second of its run).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Manifest } from "../../src/server/archive/manifest.ts";
import { openStateDb } from "../../src/server/db/state-db.ts";
import { startServer, tempDir } from "../../test/helpers/server.ts";
import { KEYS, startS3 } from "../../test/server/archive/_s3.ts";
import { fmt, median } from "./_stats.ts";
import { reportOfSize } from "./ingest.ts";

const ID_PLACEHOLDER = "00000000-0000-7000-8000-000000000000";
const encoder = new TextEncoder();

/** Uploads at `concurrency` until `stop()` says so; each completion's time is kept. */
function ingest(url: string, body: string, concurrency: number) {
  const template = encoder.encode(body);
  const idAt = body.indexOf(ID_PLACEHOLDER);
  const done: number[] = [];
  let failures = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const bytes = template.slice();
      encoder.encodeInto(Bun.randomUUIDv7(), bytes.subarray(idAt, idAt + 36));
      const res = await fetch(`${url}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: bytes,
      });
      await res.arrayBuffer();
      if (res.status === 201) done.push(Date.now());
      else failures++;
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    done,
    get failures() {
      return failures;
    },
    async stop() {
      running = false;
      await workers;
    },
  };
}

/** `files` day files of 100 reports each, dated in January 2026 (long closed). */
function seed(dir: string, report: string, files: number): number {
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const date = `2026-01-${String((i % 28) + 1).padStart(2, "0")}`;
    const ip = `10.9.${Math.floor(i / 28)}.1`;
    const lines: string[] = [];
    for (let r = 0; r < 100; r++) {
      const head = `{"report_id":"${Bun.randomUUIDv7()}","received_at":"${date}T${String(r % 24).padStart(2, "0")}:00:00.000Z","source_ip":"${ip}",`;
      lines.push(head + report.slice(1).replace(ID_PLACEHOLDER, Bun.randomUUIDv7()));
    }
    const text = `[\n${lines.join(",\n")}\n]\n`;
    writeFileSync(join(dir, `${ip}_${date}.json`), text);
    bytes += Buffer.byteLength(text);
  }
  return bytes;
}

const perSecond = (times: number[], from: number, to: number) =>
  times.filter((t) => t >= from && t <= to).length / Math.max(0.001, (to - from) / 1000);

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: "string", default: "3" },
      files: { type: "string", default: "30" },
      concurrency: { type: "string", default: "16" },
      // The server's --archive-duty (percent of the time a scheduled run works).
      duty: { type: "string", default: "25" },
    },
  });
  const rounds = Number(values.rounds);
  const files = Number(values.files);
  const concurrency = Number(values.concurrency);
  const report = reportOfSize(25_000);
  // Every folder of the run (data directories, s3rver's objects) under one root, removed at the end.
  const root = mkdtempSync(join(tmpdir(), "relevo-bench-archive-"));
  process.env.TMPDIR = root;
  const s3 = await startS3(["bench"]);
  const credentials = join(tempDir("relevo-bench-keys-"), "credentials");
  writeFileSync(
    credentials,
    `[default]\naws_access_key_id = ${KEYS.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${KEYS.AWS_SECRET_ACCESS_KEY}\n`,
  );
  const common = ["--no-auth", "--rate-limit", "0"];
  const archiveFlags = [
    "--archive-url",
    "s3://bench/relevo",
    "--archive-endpoint",
    s3.endpoint,
    "--archive-region",
    "us-east-1",
    "--archive-credentials-file",
    credentials,
    "--archive-jitter",
    "0",
    "--archive-duty",
    values.duty as string,
  ];
  const rows: { withArchive: number; without: number; mbps: number; gzRatio: number; seconds: number }[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const dir = tempDir("relevo-bench-archive-");
      const raw = seed(dir, report, files);
      console.log(`round ${round}: ${files} day files, ${fmt(raw / 1e6)} MB`);
      // A run recorded a moment ago: no catch-up at start, the server waits for its --archive-at slot, the
      // next whole minute at least 10 s away, while the load warms it up and gives the "before" window.
      const seeded = openStateDb(dir, { now: new Date() });
      const manifest = new Manifest(seeded.db);
      manifest.finishRun(manifest.startRun(Date.now()), { archived: 0, failed: 0 }, Date.now());
      seeded.close();
      const slot = new Date(Math.ceil((Date.now() + 10_000) / 60_000) * 60_000);
      const at = `${String(slot.getUTCHours()).padStart(2, "0")}:${String(slot.getUTCMinutes()).padStart(2, "0")}`;
      const server = await startServer([...common, ...archiveFlags, "--archive-at", at], dir);
      const load = ingest(server.url, report, concurrency);
      // /health is polled at the same pace through every window (it costs the server a little too).
      let health: { archive?: { running: boolean; archived: number; last_run_at: string | null } } = {};
      let polling = true;
      const poller = (async () => {
        while (polling) {
          health = (await (await fetch(`${server.url}/health`)).json()) as typeof health;
          await Bun.sleep(250);
        }
      })();
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline) {
        await Bun.sleep(100);
        if (health.archive && !health.archive.running && health.archive.archived >= files) break;
      }
      // After: the same load on the same server right after the run, for as long as the run took.
      const started = Date.parse(health.archive?.last_run_at ?? "");
      await Bun.sleep(Math.max(Date.now() - (Number.isFinite(started) ? started : Date.now()), 1000) + 300);
      polling = false;
      await poller;
      await load.stop();
      await server.stop();
      const state = openStateDb(dir, { now: new Date() });
      const runRow = state.db
        .query("SELECT started_at, finished_at, archived FROM archive_runs ORDER BY id DESC LIMIT 1")
        .get() as { started_at: number; finished_at: number; archived: number };
      const gz = state.db.query("SELECT sum(gz_bytes) AS gz FROM archive_files").get() as { gz: number };
      state.close();
      rmSync(dir, { recursive: true, force: true });
      if (runRow.archived !== files)
        throw new Error(`round ${round}: ${runRow.archived} of ${files} archived`);
      const ms = Math.max(runRow.finished_at - runRow.started_at, 1000);
      const withArchive = perSecond(load.done, runRow.started_at, runRow.finished_at);
      // Without: the windows just before and just after the run, each as long as the run, together.
      const before = perSecond(load.done, runRow.started_at - 300 - ms, runRow.started_at - 300);
      const after = perSecond(load.done, runRow.finished_at + 300, runRow.finished_at + 300 + ms);
      const without = (before + after) / 2;
      rows.push({
        withArchive,
        without,
        mbps: raw / 1e6 / (ms / 1000),
        gzRatio: raw / gz.gz,
        seconds: ms / 1000,
      });
      console.log(
        `round ${round}: archived ${files} files (${fmt(raw / 1e6)} MB, ${fmt(raw / gz.gz)}x gzip) in ${fmt(ms / 1000, 2)} s = ${fmt(raw / 1e6 / (ms / 1000))} MB/s; ingest ${fmt(withArchive)}/s while archiving, ${fmt(without)}/s without (${fmt(withArchive / without, 2)}x)`,
      );
    }
  } finally {
    await s3.stop();
    rmSync(root, { recursive: true, force: true });
  }
  const ratio = median(rows.map((row) => row.withArchive / row.without));
  console.log(`\n| --archive-duty ${values.duty} | median of ${rounds} rounds |\n| --- | --- |`);
  console.log(
    `| archive throughput (compressed, uploaded, verified) | ${fmt(median(rows.map((r) => r.mbps)))} MB/s |`,
  );
  console.log(`| ingest while archiving | ${fmt(median(rows.map((r) => r.withArchive)))} reports/s |`);
  console.log(`| ingest without an archive run | ${fmt(median(rows.map((r) => r.without)))} reports/s |`);
  console.log(`| ratio (target >= 0.9) | ${fmt(ratio, 2)}x |`);
}
