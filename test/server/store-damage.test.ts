// Issue 9, items 1-4: day files and journals damaged, read short or rewritten in another layout lose no
// element that is still there.
import { afterEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { prepareReport } from "../../src/server/intake.ts";
import { type FileStore, openFileStore } from "../../src/server/store/file-store.ts";
import { nodeStoreFs, type StoreFs } from "../../src/server/store/fs.ts";
import { readLines } from "../../src/server/store/lines.ts";
import { SUMMARY_LIMITS, summarize } from "../../src/server/store/summary.ts";
import { StoreUnavailableError } from "../../src/server/store/types.ts";
import { sampleReport } from "../helpers/report.ts";
import { tempDir } from "../helpers/server.ts";

const NOW = new Date("2026-11-23T10:00:00Z");
const TODAY = "10.0.0.5_2026-11-23.json";
const PAST = "10.0.0.5_2026-11-20.json";
const open: FileStore[] = [];

async function store(dir: string, options: Partial<Parameters<typeof openFileStore>[0]> = {}) {
  const s = await openFileStore({ dir, clock: () => NOW, ...options });
  open.push(s);
  return s;
}

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

const small = { users: [], disks: [], network: [], processes: { total: 0, list: [] } };
const ids = (dir: string, name: string) =>
  (JSON.parse(readFileSync(join(dir, name), "utf8")) as { report_id?: string }[]).map((r) => r.report_id);
const damagedCopies = (dir: string, name: string) =>
  readdirSync(dir).filter((f) => f.startsWith(`${name}.damaged-`));

/** A data directory with `n` reports stored by the store itself in TODAY, closed cleanly. */
async function stored(n: number): Promise<{ dir: string; ids: string[]; text: string }> {
  const dir = tempDir();
  const s = await store(dir);
  const reports = Array.from({ length: n }, () => sampleReport(small));
  for (const r of reports) await s.append(prepareReport(r), "10.0.0.5");
  await s.close();
  open.splice(0);
  return { dir, ids: reports.map((r) => r.report_id), text: readFileSync(join(dir, TODAY), "utf8") };
}

describe("reads never depend on a whole-file read (item 1)", () => {
  test("a read that comes back short refuses the append and leaves the file as it was", async () => {
    const { dir, text } = await stored(5);
    // Past byte 100 every read returns nothing, as a whole-file decode of 2 GiB or more did ("").
    const shortFs: StoreFs = {
      ...nodeStoreFs,
      read: (fd, into, position) =>
        position >= 100 ? 0 : nodeStoreFs.read(fd, into.subarray(0, 100 - position), position),
    };
    const s = await store(dir, { fs: shortFs });
    expect(s.append(prepareReport(sampleReport(small)), "10.0.0.5")).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await s.settle();
    expect(readFileSync(join(dir, TODAY), "utf8")).toBe(text);
  });
});

describe("valid JSON in another layout is never thrown away (item 2)", () => {
  const layouts: Array<[string, (elements: unknown[]) => string]> = [
    ["jq -c .", (e) => `${JSON.stringify(e)}\n`],
    ["jq .", (e) => `${JSON.stringify(e, null, 2)}\n`],
    ["CRLF line endings", (e) => `[\r\n${e.map((x) => JSON.stringify(x)).join(",\r\n")}\r\n]\r\n`],
    ["a space after an element's }", (e) => `[\n${e.map((x) => `${JSON.stringify(x)} `).join(",\n")}\n]\n`],
  ];
  for (const [layout, write] of layouts) {
    test(`${layout}: every element kept, the original kept beside, appends go on`, async () => {
      const { dir, ids: before } = await stored(3);
      const elements = JSON.parse(readFileSync(join(dir, TODAY), "utf8")) as unknown[];
      const original = write(elements);
      writeFileSync(join(dir, TODAY), original);
      const s = await store(dir);
      const next = sampleReport(small);
      await s.append(prepareReport(next), "10.0.0.5");
      expect(ids(dir, TODAY)).toEqual([...before, next.report_id]);
      const [copy] = damagedCopies(dir, TODAY);
      expect(readFileSync(join(dir, copy as string), "utf8")).toBe(original);
      // Re-laid out in the store's own layout: one element per line.
      expect(readFileSync(join(dir, TODAY), "utf8").split("\n")).toHaveLength(before.length + 4);
    });
  }

  test('{"a":1}: kept as the one element of the array', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, TODAY), '{"a":1}');
    const s = await store(dir);
    const next = sampleReport(small);
    await s.append(prepareReport(next), "10.0.0.5");
    const day = JSON.parse(readFileSync(join(dir, TODAY), "utf8")) as Record<string, unknown>[];
    expect(day[0]).toEqual({ a: 1 });
    expect(day[1]?.report_id).toBe(next.report_id);
    expect(damagedCopies(dir, TODAY)).toHaveLength(1);
  });
});

describe("a damaged journal record does not cut the day files (item 3)", () => {
  test("60 acknowledged, a kill -9, one flipped bit in record 11: all 60 kept, the segment kept", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const reports = Array.from({ length: 60 }, () => sampleReport(small));
    for (const r of reports) await s.append(prepareReport(r), "10.0.0.5");
    // A crash image: the page cache (every day-file write), the journal not yet retired.
    const image = tempDir("relevo-crash-");
    cpSync(dir, image, { recursive: true });
    rmSync(join(image, "relevo.lock"), { force: true });
    const segment = join(image, ".journal", "00000001.wal");
    const bytes = readFileSync(segment);
    let pos = 0;
    for (let i = 0; i < 10; i++) pos += 12 + bytes.readUInt32LE(pos);
    bytes[pos + 40] = (bytes[pos + 40] as number) ^ 0x10;
    writeFileSync(segment, bytes);
    await store(image);
    expect(ids(image, TODAY)).toEqual(reports.map((r) => r.report_id));
    expect(readdirSync(join(image, ".journal")).some((f) => f.startsWith("00000001.wal.damaged-"))).toBe(
      true,
    );
  });

  test("a changed length field in record 11: all 60 kept", async () => {
    const dir = tempDir();
    const s = await store(dir);
    const reports = Array.from({ length: 60 }, () => sampleReport(small));
    for (const r of reports) await s.append(prepareReport(r), "10.0.0.5");
    const image = tempDir("relevo-crash-");
    cpSync(dir, image, { recursive: true });
    rmSync(join(image, "relevo.lock"), { force: true });
    const segment = join(image, ".journal", "00000001.wal");
    const bytes = readFileSync(segment);
    let pos = 0;
    for (let i = 0; i < 10; i++) pos += 12 + bytes.readUInt32LE(pos);
    bytes.writeUInt32LE(bytes.readUInt32LE(pos) + 7, pos);
    writeFileSync(segment, bytes);
    await store(image);
    expect(ids(image, TODAY)).toEqual(reports.map((r) => r.report_id));
  });
});

describe("damage inside a line is found and set aside (item 4)", () => {
  test("one byte changed mid-element in today's file: set aside before the next append, counted", async () => {
    const { dir, ids: before } = await stored(3);
    const lines = readFileSync(join(dir, TODAY), "utf8").split("\n");
    const line = lines[2] as string;
    lines[2] = `${line.slice(0, 40)}\u0001${line.slice(41)}`;
    writeFileSync(join(dir, TODAY), lines.join("\n"));
    const s = await store(dir);
    const next = sampleReport(small);
    await s.append(prepareReport(next), "10.0.0.5");
    expect(ids(dir, TODAY)).toEqual([before[0], before[2], next.report_id]);
    expect((await s.health()).damaged_lines).toBe(1);
    expect(damagedCopies(dir, TODAY)).toHaveLength(1);
  });

  test("a garbage line in a past day's closed file: repaired in the background, its neighbour served", async () => {
    const { dir, ids: before } = await stored(3);
    const lines = readFileSync(join(dir, TODAY), "utf8").split("\n");
    lines[2] = `{"report_id":"x" garbage},`;
    writeFileSync(join(dir, PAST), lines.join("\n"));
    rmSync(join(dir, TODAY));
    const s = await store(dir);
    await s.settle();
    expect(ids(dir, PAST)).toEqual([before[0], before[2]]);
    const last = JSON.parse((await s.readDay("10.0.0.5", "2026-11-20", { limit: 1 })) as string);
    expect(last.map((r: { report_id: string }) => r.report_id)).toEqual([before[2]]);
    expect((await s.health()).damaged_lines).toBe(1);
  });
});

describe("readLines", () => {
  test("reads lines across chunk boundaries whole, the last one unterminated, a too-long one as null", async () => {
    const dir = tempDir();
    const text = `[\n${"a".repeat(40)},\n{"b":"é€"},\n${"c".repeat(100)}\nend`;
    writeFileSync(join(dir, "f"), text);
    const fd = nodeStoreFs.openRead(join(dir, "f"));
    const size = nodeStoreFs.size(fd);
    const got: Array<[string | null, boolean]> = [];
    for await (const line of readLines(nodeStoreFs, fd, 0, size, { chunk: 7, maxLine: 64 }))
      got.push([line.text, line.terminated]);
    nodeStoreFs.close(fd);
    expect(got).toEqual([
      ["[", true],
      [`${"a".repeat(40)},`, true],
      ['{"b":"é€"},', true],
      [null, true],
      ["end", false],
    ]);
  });
});

describe("bounded memory (item 10)", () => {
  /** A StoreFs that remembers the biggest single read. */
  function countingFs() {
    const seen = { biggest: 0 };
    const fs: StoreFs = {
      ...nodeStoreFs,
      read(fd, into, position) {
        seen.biggest = Math.max(seen.biggest, into.length);
        return nodeStoreFs.read(fd, into, position);
      },
    };
    return { fs, seen };
  }

  test("a filtered query and the first upload after a restart never read a 3 MiB day whole", async () => {
    const dir = tempDir();
    let now = new Date("2026-11-23T10:00:00Z");
    const first = await store(dir, { clock: () => now });
    const big = sampleReport();
    const all: string[] = [];
    for (let i = 0; i < 240; i++) {
      now = new Date(Date.UTC(2026, 10, 23, 10, 0, i));
      const r = sampleReport({
        report_id: crypto.randomUUID(),
        host: { ...big.host, hostname: "h".repeat(200) },
      });
      all.push(r.report_id);
      await first.append(prepareReport(r), "10.0.0.5");
    }
    await first.close();
    open.splice(0);
    const size = readFileSync(join(dir, TODAY)).length;
    expect(size).toBeGreaterThan(2 * 1024 * 1024);
    const { fs, seen } = countingFs();
    const s = await store(dir, { fs, clock: () => now });
    // Small answers come as a string, big ones (over 1 MiB) as a stream: both are read the same way.
    const pick = async (filter: object) => {
      const body = await s.readDay("10.0.0.5", "2026-11-23", filter);
      const text = await new Response(body).text();
      return (JSON.parse(text) as { report_id: string }[]).map((r) => r.report_id);
    };
    expect(await pick({ limit: 1 })).toEqual(all.slice(-1));
    expect(await pick({ limit: 3 })).toEqual(all.slice(-3));
    expect(await pick({ limit: 999 })).toEqual(all);
    expect(await pick({ from: "2026-11-23T10:02:00.000Z", to: "2026-11-23T10:02:04.000Z" })).toEqual(
      all.slice(120, 125),
    );
    await s.append(prepareReport(sampleReport()), "10.0.0.5");
    expect(seen.biggest).toBeLessThanOrEqual(1024 * 1024);
    expect(ids(dir, TODAY)).toHaveLength(241);
  });

  test("a host summary stays small whatever the report holds", () => {
    const users = Array.from({ length: 1000 }, (_, i) => ({ name: `${i}`.padEnd(256, "u") }));
    const summary = summarize({ users, host: { hostname: "h".repeat(10_000) } }, "10.0.0.5");
    expect(summary.users).toHaveLength(SUMMARY_LIMITS.users);
    expect(Math.max(...summary.users.map((u) => u.length))).toBe(SUMMARY_LIMITS.userLength);
    expect(summary.hostname).toHaveLength(SUMMARY_LIMITS.stringLength);
  });
});

describe("listing files (issue 9 item 8)", () => {
  test("/files answers from the catalog: once counted, a listing opens no file", async () => {
    const dir = tempDir();
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, `10.0.1.${i}_2026-11-20.json`), "[\n]\n");
    let opened = 0;
    const fs: StoreFs = {
      ...nodeStoreFs,
      openRead(path) {
        opened++;
        return nodeStoreFs.openRead(path);
      },
    };
    const s = await store(dir, { fs });
    await s.append(prepareReport(sampleReport(small)), "10.0.0.5");
    await s.settle();
    await s.listFiles();
    opened = 0;
    const files = await s.listFiles();
    expect(files).toHaveLength(51);
    expect(files.find((f) => f.name === TODAY)?.reports).toBe(1);
    expect(opened).toBe(0);
  });
});

describe("permissions (issue 9 item 13)", () => {
  test.skipIf(process.platform === "win32")(
    "the data directory and .journal are owner-only, created so or tightened",
    async () => {
      const parent = tempDir();
      const fresh = join(parent, "new-data");
      await store(fresh);
      expect(statSync(fresh).mode & 0o777).toBe(0o700);
      expect(statSync(join(fresh, ".journal")).mode & 0o777).toBe(0o700);
      const old = tempDir();
      chmodSync(old, 0o755);
      mkdirSync(join(old, ".journal"), { mode: 0o755 });
      chmodSync(join(old, ".journal"), 0o755);
      await store(old);
      expect(statSync(old).mode & 0o777).toBe(0o700);
      expect(statSync(join(old, ".journal")).mode & 0o777).toBe(0o700);
    },
  );
});
