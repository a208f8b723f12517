import { afterEach, describe, expect, test } from "bun:test";
import {
  cpSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { prepareReport } from "../../src/server/intake.ts";
import { type FileStore, openFileStore } from "../../src/server/store/file-store.ts";
import { StoreLockedError } from "../../src/server/store/types.ts";
import { sampleReport } from "../helpers/report.ts";
import { tempDir } from "../helpers/server.ts";

const NOW = new Date("2026-11-23T10:00:00Z");
const clock = () => NOW;
const open: FileStore[] = [];

async function store(dir = tempDir(), options: Partial<Parameters<typeof openFileStore>[0]> = {}) {
  const s = await openFileStore({ dir, clock, ...options });
  open.push(s);
  return s;
}

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

/** A copy of a live data directory, as a process crash would leave it (page cache = file contents). */
function crashImage(dir: string): string {
  const copy = tempDir("relevo-crash-");
  cpSync(dir, copy, { recursive: true });
  rmSync(join(copy, "relevo.lock"), { force: true });
  return copy;
}

const readDay = (dir: string, name: string) =>
  JSON.parse(readFileSync(join(dir, name), "utf8")) as { report_id: string }[];

describe("FileStore", () => {
  test("appends reports to a per-ip day file that stays valid JSON", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const a = sampleReport();
    const b = sampleReport();
    const stored = await s.append(prepareReport(a), "10.0.0.5");
    expect(stored).toEqual({
      ip: "10.0.0.5",
      date: "2026-11-23",
      file: "10.0.0.5_2026-11-23.json",
      duplicate: false,
    });
    expect(readDay(dir, stored.file).map((r) => r.report_id)).toEqual([a.report_id]);
    await s.append(prepareReport(b), "10.0.0.5");
    const day = readDay(dir, stored.file) as unknown as Record<string, unknown>[];
    expect(day.map((r) => r.report_id)).toEqual([a.report_id, b.report_id]);
    expect(day[0]?.source_ip).toBe("10.0.0.5");
    expect(day[0]?.received_at).toBe(NOW.toISOString());
    expect(day[1]?.host).toEqual(b.host);
  });

  test("stores a report id once per day file, so a retry adds nothing", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const report = sampleReport();
    expect((await s.append(prepareReport(report), "10.0.0.5")).duplicate).toBe(false);
    const before = readFileSync(join(dir, "10.0.0.5_2026-11-23.json"));
    expect((await s.append(prepareReport(report), "10.0.0.5")).duplicate).toBe(true);
    expect(readFileSync(join(dir, "10.0.0.5_2026-11-23.json"))).toEqual(before);
  });

  test("remembers stored ids across a restart", async () => {
    const dir = tempDir();
    const first = await store(dir);
    const report = sampleReport();
    await first.append(prepareReport(report), "10.0.0.5");
    await first.close();
    const second = await store(dir);
    expect((await second.append(prepareReport(report), "10.0.0.5")).duplicate).toBe(true);
  });

  test("a client's own received_at and source_ip never override the server's", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const report = { ...sampleReport(), received_at: "1999-01-01T00:00:00Z", source_ip: "6.6.6.6" };
    await s.append(prepareReport(report), "10.0.0.5");
    const [row] = readDay(dir, "10.0.0.5_2026-11-23.json") as unknown as Record<string, unknown>[];
    expect(row?.received_at).toBe(NOW.toISOString());
    expect(row?.source_ip).toBe("10.0.0.5");
  });

  test("names IPv6 files with dashes and reads them back by address", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const stored = await s.append(prepareReport(sampleReport()), "2001:db8::5");
    expect(stored.file).toBe("2001-db8--5_2026-11-23.json");
    expect(readdirSync(dir)).toContain("2001-db8--5_2026-11-23.json");
    const files = await s.listFiles({ ip: "2001:db8::5" });
    expect(files).toEqual([
      expect.objectContaining({ name: stored.file, ip: "2001:db8::5", date: "2026-11-23", reports: 1 }),
    ]);
    expect(await s.newestDate("2001:db8::5")).toBe("2026-11-23");
  });

  test("many concurrent appends to one file all land, in one valid array", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const reports = Array.from({ length: 300 }, () => sampleReport());
    const results = await Promise.all(reports.map((r) => s.append(prepareReport(r), "10.0.0.9")));
    expect(results.every((r) => !r.duplicate)).toBe(true);
    const ids = readDay(dir, "10.0.0.9_2026-11-23.json").map((r) => r.report_id);
    expect(ids.sort()).toEqual(reports.map((r) => r.report_id).sort());
  });

  test("uses the server's local date with dayZone local", async () => {
    const late = new Date(2026, 10, 23, 23, 30); // local time
    const s = await store(tempDir(), { clock: () => late, dayZone: "local" });
    expect((await s.append(prepareReport(sampleReport()), "10.0.0.1")).date).toBe("2026-11-23");
  });

  test("rebuilds the host summaries from the newest file of each ip at start", async () => {
    const dir = tempDir();
    const first = await store(dir);
    const old = sampleReport();
    const latest = sampleReport({ host: { ...old.host, hostname: "web-2" } });
    await first.append(prepareReport(old), "10.0.0.1");
    await first.append(prepareReport(latest), "10.0.0.1");
    await first.append(prepareReport(sampleReport()), "10.0.0.2");
    await first.close();
    writeFileSync(join(dir, "10.0.0.1_2026-11-20.json"), "[\n]\n");
    const second = await store(dir);
    const hosts = await second.hosts();
    expect(hosts.map((h) => h.ip)).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(hosts[0]).toMatchObject({
      hostname: "web-2",
      last_report_id: latest.report_id,
      process_count: latest.processes.total,
    });
  });

  test("a second store on the same directory is refused while the first holds it", async () => {
    const dir = tempDir();
    await store(dir);
    expect(openFileStore({ dir, clock })).rejects.toBeInstanceOf(StoreLockedError);
  });

  test("a lock left by a dead process is taken over", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "relevo.lock"), JSON.stringify({ pid: 2 ** 22 + 12345 }));
    const s = await store(dir);
    expect((await s.health()).writable).toBe(true);
  });

  test("counts reports and bytes of each file", async () => {
    const dir = tempDir();
    const s = await store(dir);
    for (let i = 0; i < 3; i++) await s.append(prepareReport(sampleReport()), "10.0.0.3");
    const [info] = await s.listFiles();
    expect(info?.reports).toBe(3);
    expect(info?.bytes).toBe(statSync(join(dir, "10.0.0.3_2026-11-23.json")).size);
  });

  test("filters a day by received_at and keeps the newest with limit", async () => {
    let now = new Date("2026-11-23T10:00:00Z");
    const s = await store(tempDir(), { clock: () => now });
    const ids: string[] = [];
    for (let minute = 0; minute < 5; minute++) {
      now = new Date(Date.UTC(2026, 10, 23, 10, minute));
      const r = sampleReport();
      ids.push(r.report_id);
      await s.append(prepareReport(r), "10.0.0.4");
    }
    const pick = async (filter: object) =>
      (
        JSON.parse((await s.readDay("10.0.0.4", "2026-11-23", filter)) as string) as { report_id: string }[]
      ).map((r) => r.report_id);
    expect(await pick({ from: "2026-11-23T10:01:00.000Z", to: "2026-11-23T10:03:00.000Z" })).toEqual(
      ids.slice(1, 4),
    );
    expect(await pick({ limit: 2 })).toEqual(ids.slice(3));
  });

  test("with fsync never, reports go straight to the day files and survive a restart", async () => {
    const dir = tempDir();
    const s = await store(dir, { fsync: "never" });
    const reports = Array.from({ length: 5 }, () => sampleReport());
    await Promise.all(reports.map((r) => s.append(prepareReport(r), "10.0.0.9")));
    // Nothing is journaled: without fsync a journal record protects nothing the day file does not.
    const journalDir = join(dir, ".journal");
    for (const name of readdirSync(journalDir)) expect(statSync(join(journalDir, name)).size).toBe(0);
    const image = crashImage(dir);
    const reopened = await store(image, { fsync: "never" });
    expect(new Set(readDay(image, "10.0.0.9_2026-11-23.json").map((r) => r.report_id))).toEqual(
      new Set(reports.map((r) => r.report_id)),
    );
    expect(await reopened.hosts()).toHaveLength(1);
  });
});

describe("crash recovery", () => {
  test("replays acknowledged reports that the day file lost", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const reports = Array.from({ length: 5 }, () => sampleReport());
    for (const r of reports) await s.append(prepareReport(r), "10.0.0.7");
    const image = crashImage(dir);
    // The day file lost its unsynced appends entirely (as after a power loss).
    unlinkSync(join(image, "10.0.0.7_2026-11-23.json"));
    const recovered = await store(image);
    expect(readDay(image, "10.0.0.7_2026-11-23.json").map((r) => r.report_id)).toEqual(
      reports.map((r) => r.report_id),
    );
    expect((await recovered.hosts())[0]?.last_report_id).toBe(reports[4]?.report_id);
  });

  test("replay never duplicates what the day file already has", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const reports = Array.from({ length: 4 }, () => sampleReport());
    for (const r of reports) await s.append(prepareReport(r), "10.0.0.8");
    const image = crashImage(dir);
    await store(image);
    expect(readDay(image, "10.0.0.8_2026-11-23.json").map((r) => r.report_id)).toEqual(
      reports.map((r) => r.report_id),
    );
  });

  test("a torn journal record (never acknowledged) is dropped", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const kept = sampleReport();
    await s.append(prepareReport(kept), "10.0.0.6");
    const image = crashImage(dir);
    const journalDir = join(image, ".journal");
    const [segment] = readdirSync(journalDir);
    const path = join(journalDir, segment as string);
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.from([0x40, 0x00, 0x00, 0x00, 1, 2, 3])]));
    await store(image);
    expect(readDay(image, "10.0.0.6_2026-11-23.json").map((r) => r.report_id)).toEqual([kept.report_id]);
  });

  test("a recycled journal segment's old records are never replayed", async () => {
    const dir = tempDir();
    const journalDir = join(dir, ".journal");
    const segments = () => readdirSync(journalDir).filter((name) => /^\d{8}\.wal$/.test(name));
    // A checkpoint after every batch: each new segment is the retired one renamed, old records and all.
    const s = await store(dir, { checkpointBytes: 1 });
    const first = Array.from({ length: 3 }, () => sampleReport());
    await Promise.all(first.map((r) => s.append(prepareReport(r), "10.0.0.4")));
    await s.settle();
    // The records of that first batch, with the offsets they had in 10.0.0.4's file then.
    const stale = readFileSync(join(journalDir, "recycle.wal"));
    expect(stale.includes(Buffer.from(first[0]?.report_id as string))).toBe(true);
    const later = Array.from({ length: 6 }, () => sampleReport());
    for (const [i, r] of later.entries()) {
      await s.append(prepareReport(r), i % 2 ? "10.0.0.4" : "10.0.0.5");
      await s.settle();
    }
    const image = crashImage(dir);
    const before = readFileSync(join(image, "10.0.0.4_2026-11-23.json"));
    // The current segment's file, as if recycled: its own records, then an older segment's.
    const [current] = segments();
    const path = join(image, ".journal", current as string);
    writeFileSync(path, Buffer.concat([readFileSync(path), stale]));
    await store(image);
    // Replaying them would cut 10.0.0.4's file back to where they began, dropping the later reports.
    expect(readFileSync(join(image, "10.0.0.4_2026-11-23.json"))).toEqual(before);
    expect(readDay(image, "10.0.0.4_2026-11-23.json").map((r) => r.report_id)).toEqual([
      ...first.map((r) => r.report_id),
      ...later.filter((_, i) => i % 2).map((r) => r.report_id),
    ]);
  });

  test("a checkpoint comes when the store's clock says checkpointMs has passed, not the wall clock", async () => {
    const dir = tempDir();
    let now = NOW.getTime();
    const s = await store(dir, { clock: () => new Date(now), checkpointMs: 60_000 });
    const wal = () => readdirSync(join(dir, ".journal")).sort();
    await s.append(prepareReport(sampleReport()), "10.0.0.4");
    await s.settle();
    expect(wal()).toEqual(["00000001.wal"]);
    now += 59_000;
    await s.append(prepareReport(sampleReport()), "10.0.0.4");
    await s.settle();
    expect(wal()).toEqual(["00000001.wal"]);
    now += 1_000;
    await s.append(prepareReport(sampleReport()), "10.0.0.4");
    await s.settle();
    // Segment 1 retired (kept for reuse), segment 2 current.
    expect(wal()).toEqual(["00000002.wal", "recycle.wal"]);
  });

  // Every cut point of the last element, on a file the journal does not cover (fsync never + crash).
  test("cuts a torn tail back to the last complete element at every cut point", async () => {
    const dir = tempDir();
    const s = await store(dir);
    // Small reports, so that every byte offset can be tried.
    const small = { users: [], disks: [], network: [], processes: { total: 0, list: [] } };
    const a = sampleReport(small);
    const b = sampleReport(small);
    await s.append(prepareReport(a), "10.0.0.2");
    await s.close();
    open.splice(0);
    const name = "10.0.0.2_2026-11-23.json";
    const one = readFileSync(join(dir, name));
    const s2 = await store(dir);
    await s2.append(prepareReport(b), "10.0.0.2");
    await s2.close();
    open.splice(0);
    const two = readFileSync(join(dir, name));
    // From "...a}\n]\n" to "...a},\n{b}\n]\n": the append wrote bytes [one.length - 3, two.length).
    const start = one.length - 3;
    for (let cut = start; cut < two.length; cut++) {
      const image = tempDir("relevo-torn-");
      // Bytes past the cut never reached the disk; the old closing bytes were already overwritten.
      writeFileSync(join(image, name), two.subarray(0, cut));
      const repaired = await store(image);
      const ids = readDay(image, name).map((r) => r.report_id);
      // Once b's closing brace is on disk, b is complete and kept; before that only a survives.
      expect(ids).toEqual(cut >= two.length - 3 ? [a.report_id, b.report_id] : [a.report_id]);
      expect((await repaired.hosts())[0]?.ip).toBe("10.0.0.2");
      await repaired.close();
      open.splice(0);
      // One image per cut point: tens of thousands of folders (with their kept originals) otherwise.
      rmSync(image, { recursive: true, force: true });
    }
  });

  test("cuts a partial element after a short write and closes the array", async () => {
    const dir = tempDir();
    const s = await store(dir);
    await s.append(prepareReport(sampleReport()), "10.0.0.3");
    await s.close();
    open.splice(0);
    const path = join(dir, "10.0.0.3_2026-11-23.json");
    const size = statSync(path).size;
    writeFileSync(
      path,
      Buffer.concat([readFileSync(path).subarray(0, size - 3), Buffer.from(',\n{"report_id":"x","os":{')]),
    );
    await store(dir);
    expect(readDay(dir, "10.0.0.3_2026-11-23.json")).toHaveLength(1);
  });

  test("keeps good elements around a garbage line", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const reports = [sampleReport(), sampleReport(), sampleReport()];
    for (const r of reports) await s.append(prepareReport(r), "10.0.0.4");
    await s.close();
    open.splice(0);
    const path = join(dir, "10.0.0.4_2026-11-23.json");
    const lines = readFileSync(path, "utf8").split("\n");
    lines[2] = "\0".repeat(40);
    writeFileSync(path, lines.join("\n"));
    await (await store(dir)).append(prepareReport(sampleReport()), "10.0.0.4");
    const ids = readDay(dir, "10.0.0.4_2026-11-23.json").map((r) => r.report_id);
    expect(ids.slice(0, 2)).toEqual([reports[0]?.report_id as string, reports[2]?.report_id as string]);
    expect(ids).toHaveLength(3);
  });

  test("a truncated empty file is recreated as an empty array", async () => {
    const dir = tempDir();
    const name = "10.0.0.1_2026-11-23.json";
    writeFileSync(join(dir, name), "");
    const s = await store(dir);
    await s.append(prepareReport(sampleReport()), "10.0.0.1");
    expect(readDay(dir, name)).toHaveLength(1);
    // Emptied by someone else after a clean stop (checkpointed, so no journal holds it): the next start
    // makes it a valid empty array again, and appends go on from there.
    await s.close();
    open.splice(open.indexOf(s), 1);
    truncateSync(join(dir, name), 0);
    const again = await store(dir);
    expect(readDay(dir, name)).toEqual([]);
    await again.append(prepareReport(sampleReport()), "10.0.0.1");
    expect(readDay(dir, name)).toHaveLength(1);
  });
});

describe("duplicates (issue 9 item 6)", () => {
  test("an upper-case and a lower-case copy of one report id are one report", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const report = sampleReport();
    const upper = { ...report, report_id: report.report_id.toUpperCase() };
    expect((await s.append(prepareReport(upper), "10.0.0.5")).duplicate).toBe(false);
    expect((await s.append(prepareReport(report), "10.0.0.5")).duplicate).toBe(true);
    await s.close();
    open.splice(0);
    const again = await store(dir);
    expect((await again.append(prepareReport(report), "10.0.0.5")).duplicate).toBe(true);
    expect(readDay(dir, "10.0.0.5_2026-11-23.json")).toHaveLength(1);
  });

  for (const restart of [false, true]) {
    test(`a retry just after midnight is a duplicate of the previous day's copy${restart ? ", across a restart" : ""}`, async () => {
      const dir = tempDir();
      let now = new Date("2026-11-23T23:59:30Z");
      const s = await store(dir, { clock: () => now });
      const report = sampleReport();
      await s.append(prepareReport(report), "10.0.0.5");
      await s.append(prepareReport(sampleReport()), "10.0.0.6");
      now = new Date("2026-11-24T00:00:30Z");
      let target = s;
      if (restart) {
        await s.close();
        open.splice(0);
        target = await store(dir, { clock: () => now });
      }
      // Another host's upload first, so the day has turned for the store before the retry arrives.
      await target.append(prepareReport(sampleReport()), "10.0.0.6");
      expect(await target.append(prepareReport(report), "10.0.0.5")).toEqual({
        ip: "10.0.0.5",
        date: "2026-11-23",
        file: "10.0.0.5_2026-11-23.json",
        duplicate: true,
      });
      expect(readdirSync(dir)).not.toContain("10.0.0.5_2026-11-24.json");
      // Past the window, a late retry is stored again: at least once.
      now = new Date("2026-11-24T07:00:00Z");
      expect((await target.append(prepareReport(report), "10.0.0.5")).duplicate).toBe(false);
    });
  }
});
