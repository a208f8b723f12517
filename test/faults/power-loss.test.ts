// Simulated power loss (see test/helpers/crash-fs.ts for the model): each workload runs once on a recording
// StoreFs; then, for every prefix of its disk operations (a crash point) and under every crash policy, the
// directory a power cut would leave is written out, a store recovers it, and the test checks that every
// report acknowledged before that point is stored exactly once and every day file parses. For a sample of
// those recoveries, the recovery itself is crashed at each of its own operations and recovered again.
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { prepareReport } from "../../src/server/intake.ts";
import { openFileStore } from "../../src/server/store/file-store.ts";
import type { Report } from "../../src/shared/report.ts";
import {
  CRASH_POLICIES,
  CrashFs,
  type CrashPolicy,
  crashPoints,
  type DiskModel,
} from "../helpers/crash-fs.ts";
import { sampleReport } from "../helpers/report.ts";
import { tempDir } from "../helpers/server.ts";
import { checkDir, lostAndDoubled, rng } from "./helpers.ts";

const SEED = Number(process.env.CRASH_SEED ?? 20261123);
const totals = { points: 0, images: 0, doubleCrash: 0, acked: 0, lost: 0, broken: 0 };

/** A real report with a short process list, so that hundreds of images stay small. */
function smallReport(): Report {
  const report = sampleReport();
  return { ...report, processes: { ...report.processes, list: report.processes.list.slice(0, 2) } };
}

interface Run {
  fs: CrashFs;
  submitted: Set<string>;
  acked: number;
  checkpoints: number;
}

type Append = (ip: string, report?: Report) => Promise<void>;

/** Runs a workload on a recording CrashFs over a fresh directory (after `prepare`), closing the store. */
async function record(
  seed: number,
  checkpointBytes: number,
  work: (append: Append, setDay: (iso: string) => void) => Promise<void>,
  /** Fills the directory first; returns the ids it stored (acked) and any it stored and then spoiled. */
  prepare?: (dir: string) => Promise<{ acked: string[]; spoiled?: string[] }>,
  steadySyncs = false,
): Promise<Run> {
  const dir = tempDir("relevo-power-");
  const prepared = prepare ? await prepare(dir) : { acked: [] };
  const before = prepared.acked;
  const random = rng(seed);
  // Now and then an fsync takes a few ms, so batches and checkpoints interleave in varied ways.
  const fs = new CrashFs(dir, () => (!steadySyncs && random() < 0.25 ? Math.floor(random() * 4) : 0));
  for (const id of before) fs.ack(id);
  let now = new Date("2026-11-23T23:59:00Z");
  const store = await openFileStore({ dir, fs, clock: () => now, checkpointBytes, checkpointMs: 3_600_000 });
  const submitted = new Set<string>([...before, ...(prepared.spoiled ?? [])]);
  let acked = before.length;
  const append: Append = async (ip, report = smallReport()) => {
    submitted.add(report.report_id);
    await store.append(prepareReport(report), ip);
    fs.ack(report.report_id);
    acked++;
  };
  await work(append, (iso) => {
    now = new Date(iso);
  });
  await store.close();
  // A checkpoint retires a segment: renamed to recycle.wal, or removed when one is already kept.
  const checkpoints = fs.trace.filter(
    (op) => (op.kind === "rename" && op.toName === "recycle.wal") || op.kind === "unlink",
  ).length;
  rmSync(dir, { recursive: true, force: true });
  return { fs, submitted, acked, checkpoints };
}

/** Recovers an image with a store on a recording fs; checks it; returns that recovery's run. */
async function recoverAndCheck(
  image: string,
  acked: readonly string[],
  submitted: Set<string>,
  where: string,
): Promise<CrashFs> {
  const fs = new CrashFs(image);
  const store = await openFileStore({ dir: image, fs, clock: () => new Date("2026-11-24T00:30:00Z") });
  const check = checkDir(image);
  const { lost, doubled } = lostAndDoubled(check, acked);
  const strangers = [...check.counts.keys()].filter((id) => !submitted.has(id));
  if (check.broken.length || lost.length || doubled.length || strangers.length) {
    totals.lost += lost.length;
    totals.broken += check.broken.length;
    // Leave the image for inspection and say how to find it again.
    throw new Error(
      `${where} (seed ${SEED}, image ${image}): broken ${JSON.stringify(check.broken)}, lost ${lost.length} ${JSON.stringify(lost.slice(0, 3))}, doubled ${JSON.stringify(doubled)}, unknown ${JSON.stringify(strangers)}`,
    );
  }
  // Open means the recovery finished; it takes writes again.
  await store.append(prepareReport(smallReport()), "198.51.100.7");
  await store.close();
  return fs;
}

/** Crashes the recovery of `image` at each of its own disk operations (synced and torn) and recovers again. */
async function crashRecovery(
  recovery: CrashFs,
  acked: readonly string[],
  submitted: Set<string>,
  where: string,
  seed: number,
): Promise<void> {
  // Only the operations of open() (before the first ack of the check's own append) matter here.
  const trace = recovery.trace.slice(
    0,
    recovery.trace.findIndex((op) => op.kind === "write" && op.data.length > 200) >>> 0,
  );
  for (const point of crashPoints(recovery.start, trace)) {
    for (const policy of ["synced", "torn-prefix"] as const) {
      const image = tempDir("relevo-power-img2-");
      point.model.materialize(image, policy, rng(seed + point.index));
      await recoverAndCheck(
        image,
        acked,
        submitted,
        `${where}, recovery crashed at op ${point.index} (${policy})`,
      );
      rmSync(image, { recursive: true, force: true });
      totals.doubleCrash++;
    }
  }
}

async function crashEverywhere(name: string, run: Run, seed: number): Promise<number> {
  let points = 0;
  const everyNth = 25;
  for (const point of crashPoints(run.fs.start as DiskModel, run.fs.trace)) {
    points++;
    for (const [p, policy] of CRASH_POLICIES.entries()) {
      const image = tempDir("relevo-power-img-");
      const random = rng(seed * 31 + point.index * 7 + p);
      point.model.materialize(image, policy as CrashPolicy, random);
      const where = `${name}: crash after op ${point.index}/${run.fs.trace.length} (${policy}, ${point.acked.length} acked)`;
      const recovery = await recoverAndCheck(image, point.acked, run.submitted, where);
      rmSync(image, { recursive: true, force: true });
      totals.images++;
      if (policy === "torn-prefix" && point.index % everyNth === 0) {
        const again = tempDir("relevo-power-img-");
        point.model.materialize(again, policy, rng(seed * 31 + point.index * 7 + p));
        await crashRecovery(recovery, point.acked, run.submitted, where, seed);
        rmSync(again, { recursive: true, force: true });
      }
    }
  }
  totals.points += points;
  totals.acked += run.acked;
  return points;
}

const IPS = [
  "10.0.0.1",
  "10.0.0.2",
  "192.0.2.77",
  "2001:db8::1",
  "10.0.0.5",
  "10.0.0.6",
  "10.0.0.9",
  "10.0.0.8",
];

afterAll(() => {
  console.log(
    `power loss: crash points: ${totals.points}, images recovered: ${totals.images} (${CRASH_POLICIES.length} policies), recovery crashed and recovered again: ${totals.doubleCrash}, reports acknowledged in the workloads: ${totals.acked}, acknowledged lost: ${totals.lost}, day files left unparseable: ${totals.broken}`,
  );
});

describe("simulated power loss", () => {
  test("sequential appends over three day files, with checkpoints", async () => {
    const run = await record(SEED, 6_000, async (append) => {
      for (let i = 0; i < 24; i++) await append(IPS[i % 3] as string);
    });
    expect(run.checkpoints).toBeGreaterThanOrEqual(4);
    const points = await crashEverywhere("sequential", run, SEED);
    expect(points).toBeGreaterThan(60);
  }, 60_000);

  test("concurrent appends from eight hosts, retries, checkpoints mid-batch", async () => {
    const run = await record(SEED + 1, 8_000, async (append) => {
      const random = rng(SEED + 1);
      // A retry comes from the same host as the original (ids are unique per day file, i.e. per host and day).
      const sent: Array<[string, Report]> = [];
      for (let wave = 0; wave < 5; wave++) {
        await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            await Bun.sleep(Math.floor(random() * 3));
            const retry = sent.length > 0 && random() < 0.15;
            const [ip, report] = retry
              ? (sent[Math.floor(random() * sent.length)] as [string, Report])
              : [IPS[(wave * 3 + i) % IPS.length] as string, smallReport()];
            if (!retry) sent.push([ip, report]);
            await append(ip, report);
          }),
        );
      }
    });
    expect(run.checkpoints).toBeGreaterThanOrEqual(4);
    const points = await crashEverywhere("concurrent", run, SEED + 1);
    expect(points).toBeGreaterThan(100);
  }, 60_000);

  test("a torn day file to repair at first append, then midnight: a new day's files", async () => {
    const prepare = async (dir: string) => {
      const store = await openFileStore({ dir, clock: () => new Date("2026-11-23T22:00:00Z") });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const report = smallReport();
        await store.append(prepareReport(report), IPS[0] as string);
        ids.push(report.report_id);
      }
      await store.close();
      // A crash outside the journal's reach (say the file was copied in torn): half an element, no "]".
      const file = join(dir, `${IPS[0]}_2026-11-23.json`);
      const text = readFileSync(file, "utf8");
      writeFileSync(file, text.slice(0, -3));
      appendFileSync(file, `,\n${text.split("\n")[1]?.slice(0, 300)}`);
      expect(readdirSync(dir)).toContain(`${IPS[0]}_2026-11-23.json`);
      return { acked: ids };
    };
    const run = await record(
      SEED + 2,
      5_000,
      async (append, setDay) => {
        await Promise.all([append(IPS[1] as string), append(IPS[0] as string), append(IPS[2] as string)]);
        for (let i = 0; i < 6; i++) await append(IPS[i % 2] as string);
        setDay("2026-11-24T00:00:01Z");
        await Promise.all(IPS.slice(0, 4).map((ip) => append(ip)));
        for (let i = 0; i < 6; i++) await append(IPS[i % 3] as string);
      },
      prepare,
    );
    const renames = run.fs.trace.filter((op) => op.kind === "rename" && op.toName.endsWith(".json")).length;
    expect(renames).toBeGreaterThanOrEqual(1);
    const points = await crashEverywhere("torn start + midnight", run, SEED + 2);
    expect(points).toBeGreaterThan(60);
  }, 60_000);

  test("a day file repaired at its first append while a checkpoint starts: one batch, two journal segments", async () => {
    // The repair waits for an fsync; the checkpoint that the batch before started swaps journal segments
    // meanwhile, so one batch writes records to both. Every segment it wrote must be synced before the acks.
    const prepare = async (dir: string) => {
      const store = await openFileStore({ dir, clock: () => new Date("2026-11-23T22:00:00Z") });
      const reports = [smallReport(), smallReport()];
      for (const report of reports) await store.append(prepareReport(report), IPS[1] as string);
      await store.close();
      // The first element no longer starts the way the store writes elements (still valid JSON, and the
      // tail is fine, so only the first append to this file notices and rewrites it without that element).
      const file = join(dir, `${IPS[1]}_2026-11-23.json`);
      writeFileSync(file, readFileSync(file, "utf8").replace('[\n{"report_id"', '[\n{ "report_id"'));
      const [spoiled, kept] = reports.map((report) => report.report_id) as [string, string];
      return { acked: [kept], spoiled: [spoiled] };
    };
    const run = await record(
      SEED + 3,
      1_000,
      async (append) => {
        const first = append(IPS[0] as string);
        await Promise.resolve();
        await Promise.all([
          first,
          append(IPS[0] as string),
          append(IPS[1] as string),
          append(IPS[2] as string),
        ]);
        for (let i = 0; i < 4; i++) await append(IPS[i % 3] as string);
      },
      prepare,
      true,
    );
    const points = await crashEverywhere("repair during a checkpoint", run, SEED + 3);
    expect(points).toBeGreaterThan(30);
  }, 60_000);

  // A batch appends several times to a day file that has no synced journal record since the last checkpoint,
  // and the power goes around the batch's fsync. Nothing orders unsynced pages of one file, so writeback may
  // keep a later append and not an earlier one: a hole of zeros before a closed tail. Day files are written
  // only after their batch's journal fsync, so such a file is always named by a durable record, and recovery
  // cuts it back and replays it: every file parses and nothing acknowledged is lost.
  test("reordered writeback inside one day file: every file parses, nothing acknowledged lost", async () => {
    const run = await record(
      SEED + 4,
      1_000,
      async (append) => {
        await append(IPS[0] as string);
        await Bun.sleep(30);
        await append(IPS[1] as string);
        await Bun.sleep(30);
        await Promise.all([IPS[2], IPS[0], IPS[0], IPS[0], IPS[0]].map((ip) => append(ip as string)));
      },
      undefined,
      true,
    );
    let images = 0;
    let lostHere = 0;
    let brokenHere = 0;
    for (const point of crashPoints(run.fs.start, run.fs.trace)) {
      for (let k = 0; k < 20; k++) {
        const image = tempDir("relevo-power-img-");
        point.model.materialize(image, "random-subset", rng(SEED + point.index * 100 + k));
        const store = await openFileStore({ dir: image, clock: () => new Date("2026-11-24T00:30:00Z") });
        const check = checkDir(image);
        const { lost, doubled } = lostAndDoubled(check, point.acked);
        totals.lost += lost.length;
        totals.broken += check.broken.length;
        lostHere += lost.length;
        brokenHere += check.broken.length;
        expect({ at: point.index, broken: check.broken, lost, doubled }).toEqual({
          at: point.index,
          broken: [],
          lost: [],
          doubled: [],
        });
        await store.close();
        rmSync(image, { recursive: true, force: true });
        images++;
      }
    }
    totals.images += images;
    console.log(
      `reordered writeback: ${images} images, acknowledged lost ${lostHere}, unparseable day files left ${brokenHere}`,
    );
  }, 60_000);
});
