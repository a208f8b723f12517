import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOCK_FILE, SpoolLockedError } from "../../src/agent/lock.ts";
import { CORRUPT_DIR, decodeEntry, encodeEntry, Spool, type SpoolOptions } from "../../src/agent/spool.ts";
import { recordingLog, tempDir, waitForLine } from "./_helpers.ts";

const CHILD = join(import.meta.dir, "_spool-child.ts");
const dirs: string[] = [];
const spools: Spool[] = [];
const children: Bun.Subprocess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill("SIGKILL");
    await child.exited;
  }
  for (const spool of spools.splice(0)) await spool.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function newDir(): string {
  const dir = tempDir("relevo-spool-");
  dirs.push(dir);
  return join(dir, "spool");
}

async function openSpool(dir: string, options: Partial<SpoolOptions> = {}) {
  const log = recordingLog();
  let clock = 1_700_000_000_000;
  const spool = await Spool.open({
    dir,
    maxReports: 1000,
    maxBytes: 100 * 1024 * 1024,
    now: () => clock++,
    log,
    ...options,
  });
  spools.push(spool);
  return { spool, log };
}

async function close(spool: Spool): Promise<void> {
  await spool.close();
  spools.splice(spools.indexOf(spool), 1);
}

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
const entryFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith(".report"));

describe("entries", () => {
  test("round-trip through the header with checksum and length", () => {
    const payload = crypto.getRandomValues(new Uint8Array(1000));
    const decoded = decodeEntry(encodeEntry("01a2-id", payload));
    expect(decoded).toEqual({ reportId: "01a2-id", kind: "report", payload });
  });

  test("a log batch says so in its header; a report's header is as before", () => {
    const payload = bytes(10);
    const logs = encodeEntry("0192-batch", payload, "logs");
    expect(new TextDecoder().decode(logs).split("\n")[0]).toEndWith(" 10 0192-batch logs");
    expect(decodeEntry(logs)).toEqual({ reportId: "0192-batch", kind: "logs", payload });
    expect(new TextDecoder().decode(encodeEntry("r", payload)).split("\n")[0]).toEndWith(" 10 r");
  });

  const payload = bytes(100);
  const good = encodeEntry("id", payload);
  const cases: [string, Uint8Array, string][] = [
    ["cut short", good.subarray(0, good.length - 1), "length 99, header says 100"],
    ["one byte flipped", good.map((b, i) => (i === good.length - 5 ? b ^ 1 : b)), "checksum mismatch"],
    ["empty", new Uint8Array(0), "no header line"],
    ["a stranger's file", new TextEncoder().encode("hello\nworld"), "bad header"],
  ];
  for (const [what, data, why] of cases) {
    test(`a corrupt entry is detected: ${what}`, () => expect(decodeEntry(data)).toBe(why));
  }
});

describe("Spool", () => {
  test("writes entries atomically: no temp file left, each entry whole, private to the user", async () => {
    const dir = newDir();
    const { spool } = await openSpool(dir);
    await spool.add("a", bytes(10));
    await spool.add("b", bytes(20));
    const names = readdirSync(dir).sort();
    expect(names.filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect(entryFiles(dir)).toHaveLength(2);
    for (const name of entryFiles(dir)) {
      expect(typeof decodeEntry(readFileSync(join(dir, name)))).toBe("object");
    }
    if (process.platform !== "win32") {
      const { statSync } = await import("node:fs");
      expect(statSync(join(dir, entryFiles(dir)[0] as string)).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    }
  });

  test("gives entries back oldest first, and their names sort by time", async () => {
    const dir = newDir();
    const { spool } = await openSpool(dir);
    for (const id of ["first", "second", "third"]) await spool.add(id, bytes(5));
    const order: string[] = [];
    for (let next = await spool.next(); next; next = await spool.next()) {
      order.push(next.reportId);
      await spool.remove(next.entry);
    }
    expect(order).toEqual(["first", "second", "third"]);
    expect(entryFiles(dir)).toEqual([]);
  });

  test("keeps the order when the clock steps back", async () => {
    const dir = newDir();
    const times = [5_000, 4_000, 3_000];
    const { spool } = await openSpool(dir, { now: () => times.shift() ?? 0 });
    for (const id of ["first", "second", "third"]) await spool.add(id, bytes(5));
    const next = await spool.next();
    expect(next?.reportId).toBe("first");
    expect(
      entryFiles(dir)
        .sort()
        .map((n) => n.split("-").at(-1)),
    ).toEqual(["first.report", "second.report", "third.report"]);
  });

  test("survives a restart: a new agent finds the entries in order", async () => {
    const dir = newDir();
    const { spool } = await openSpool(dir);
    for (const id of ["a", "b", "c"]) await spool.add(id, bytes(5));
    await close(spool);
    const { spool: again, log } = await openSpool(dir);
    expect(again.size).toBe(3);
    expect((await again.next())?.reportId).toBe("a");
    expect(log.lines.join("\n")).toContain("3 reports waiting");
  });

  // [limit by count, limit by bytes, entries added, each payload, want kept, want dropped]
  const bounds: [string, number, number, number, number, number, number][] = [
    ["count: 5 of 8 kept", 5, 100 * 1024 * 1024, 8, 100, 5, 3],
    ["count: exactly at the limit drops none", 5, 100 * 1024 * 1024, 5, 100, 5, 0],
    ["count: a limit of 1 keeps the newest", 1, 100 * 1024 * 1024, 4, 100, 1, 3],
    // Each entry is its payload plus a ~110-byte header: 10 KiB fits 3 entries of 3,000 bytes.
    ["bytes: 3 of 7 fit in 10 KiB", 1000, 10 * 1024, 7, 3000, 3, 4],
  ];
  for (const [what, maxReports, maxBytes, added, size, kept, dropped] of bounds) {
    test(`stays within its bounds, dropping the oldest and counting exactly (${what})`, async () => {
      const dir = newDir();
      const { spool, log } = await openSpool(dir, { maxReports, maxBytes });
      let droppedSeen = 0;
      for (let i = 0; i < added; i++) droppedSeen += (await spool.add(`r${i}`, bytes(size))).dropped;
      expect(spool.size).toBe(kept);
      expect(entryFiles(dir)).toHaveLength(kept);
      expect(droppedSeen).toBe(dropped);
      expect(spool.dropped).toBe(dropped);
      expect(spool.bytes).toBeLessThanOrEqual(maxBytes);
      // The newest survive.
      expect((await spool.next())?.reportId).toBe(`r${added - kept}`);
      const logged = log.lines
        .map((l) => /dropped the (\d+) oldest/.exec(l)?.[1])
        .filter(Boolean)
        .reduce((sum, n) => sum + Number(n), 0);
      expect(logged).toBe(dropped);
    });
  }

  test("drops several old entries at once to fit a big one, and says how many", async () => {
    const dir = newDir();
    const { spool, log } = await openSpool(dir, { maxBytes: 10 * 1024 });
    for (let i = 0; i < 5; i++) await spool.add(`small${i}`, bytes(1500));
    const result = await spool.add("big", bytes(8000));
    expect(result).toEqual({ stored: true, dropped: 4 });
    expect(log.lines.some((l) => l.includes("dropped the 4 oldest reports"))).toBe(true);
    expect(spool.size).toBe(2);
  });

  test("refuses a report larger than the whole spool, counting it as dropped", async () => {
    const dir = newDir();
    const { spool, log } = await openSpool(dir, { maxBytes: 1024 });
    await spool.add("small", bytes(10));
    expect(await spool.add("huge", bytes(4096))).toEqual({ stored: false, dropped: 1 });
    expect(spool.size).toBe(1);
    expect(log.lines.some((l) => l.includes("larger than the whole spool"))).toBe(true);
  });

  test("sets corrupt entries aside, counts and logs them, and moves on to the next", async () => {
    const dir = newDir();
    const { spool } = await openSpool(dir);
    for (const id of ["a", "b", "c", "d"]) await spool.add(id, bytes(50));
    await close(spool);
    const [a, b, c] = entryFiles(dir).sort() as [string, string, string];
    writeFileSync(join(dir, a), readFileSync(join(dir, a)).subarray(0, 40)); // cut short
    const flipped = readFileSync(join(dir, b));
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 0xff;
    writeFileSync(join(dir, b), flipped); // bit rot
    writeFileSync(join(dir, c), ""); // empty
    const { spool: again, log } = await openSpool(dir);
    const next = await again.next();
    expect(next?.reportId).toBe("d");
    expect(again.corrupt).toBe(3);
    expect(again.size).toBe(1);
    expect(readdirSync(join(dir, CORRUPT_DIR)).sort()).toEqual([a, b, c]);
    const warnings = log.lines.filter((l) => l.includes("is corrupt"));
    expect(warnings).toHaveLength(3);
    expect(warnings[2]).toContain("3 set aside since start");
  });

  test("removes temp files a crash left behind, and never counts them as entries", async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".001700000000000-000000-x.report.tmp"), "half a rep");
    const { spool } = await openSpool(dir);
    expect(spool.size).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  test("a second spool on the same directory is refused while the first holds it", async () => {
    const dir = newDir();
    await openSpool(dir);
    const second = openSpool(dir);
    await expect(second).rejects.toBeInstanceOf(SpoolLockedError);
    await expect(second).rejects.toThrow(
      `the spool ${dir} is in use by another relevo-agent (pid ${process.pid}`,
    );
  });

  test("another process holding the spool keeps us out; once it is killed, its stale lock is taken over", async () => {
    const dir = newDir();
    const child = Bun.spawn([process.execPath, CHILD, "hold", dir], { stdout: "pipe", stderr: "inherit" });
    children.push(child);
    await waitForLine(child.stdout, "ready");
    await expect(openSpool(dir)).rejects.toThrow(`in use by another relevo-agent (pid ${child.pid}`);
    child.kill("SIGKILL");
    await child.exited;
    const { spool, log } = await openSpool(dir);
    expect(log.lines.some((l) => l.includes(`taking over the lock of pid ${child.pid}`))).toBe(true);
    const owner = JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8"));
    expect(owner.pid).toBe(process.pid);
    await close(spool);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  // Linux only: elsewhere a live pid is all the lock can check.
  test.skipIf(process.platform !== "linux")(
    "a lock naming a pid that runs but is another process (pid reuse) is stale",
    async () => {
      const dir = newDir();
      mkdirSync(dir, { recursive: true });
      // Our own pid, but a start time that is not ours: what a reboot or a container restart leaves.
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, start: "1" }));
      const { log } = await openSpool(dir);
      expect(log.lines.some((l) => l.includes("taking over the lock"))).toBe(true);
    },
  );

  test("an unreadable lock file is taken over", async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE), "");
    const { log } = await openSpool(dir);
    expect(log.lines.some((l) => l.includes("an unreadable lock file"))).toBe(true);
  });

  test("an agent killed with SIGKILL while writing leaves a readable spool with no half entries", async () => {
    const dir = newDir();
    let total = 0;
    let cut = 0;
    let rounds = 0;
    // Until at least two kills have landed in the middle of a write (a temp file left behind), bounded.
    for (; rounds < 40 && (rounds < 6 || cut < 2); rounds++) {
      const child = Bun.spawn([process.execPath, CHILD, "write", dir], { stdout: "pipe", stderr: "inherit" });
      children.push(child);
      await waitForLine(child.stdout, "ready");
      await Bun.sleep(50 + Math.random() * 250);
      child.kill("SIGKILL");
      await child.exited;
      children.splice(children.indexOf(child), 1);
      // A temp file on disk means the kill landed in the middle of a write.
      if (readdirSync(dir).some((n) => n.endsWith(".tmp"))) cut++;
      const { spool } = await openSpool(dir, { maxReports: 50, maxBytes: 64 * 1024 * 1024 });
      expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
      const names = entryFiles(dir);
      for (const name of names) {
        expect(typeof decodeEntry(readFileSync(join(dir, name)))).toBe("object");
      }
      expect(spool.corrupt).toBe(0);
      total += names.length;
      await close(spool);
    }
    expect(total).toBeGreaterThan(0);
    expect(cut).toBeGreaterThanOrEqual(2);
    if (process.env.RELEVO_TEST_LOGS) console.error(`killed mid-write in ${cut} of ${rounds} rounds`);
  }, 60_000);
});

describe("hand-over while another agent holds the lock", () => {
  test("handOff writes whole into incoming/; the holder adopts it (kind kept) at open and when asked", async () => {
    const dir = newDir();
    const { spool } = await openSpool(dir);
    await spool.add("r1", bytes(5));
    await Spool.handOff(dir, "0192-a", bytes(7, 1), "logs", 1_700_000_000_100);
    writeFileSync(join(dir, "incoming", ".half-written.report.tmp"), "relevo-spool 1");
    expect(await spool.adoptIncoming()).toBe(1);
    expect(readdirSync(join(dir, "incoming"))).toEqual([".half-written.report.tmp"]);
    const first = await spool.next();
    expect(first?.kind).toBe("report");
    await spool.remove(first?.entry as never);
    const second = await spool.next();
    expect(second).toMatchObject({ kind: "logs", reportId: "0192-a", payload: bytes(7, 1) });
    await close(spool);

    await Spool.handOff(dir, "0192-b", bytes(3, 2), "logs", 1_700_000_000_200);
    const { spool: again } = await openSpool(dir);
    expect(again.size).toBe(2);
  });

  test("a corrupt hand-over is removed and logged, and blocks nothing", async () => {
    const dir = newDir();
    const { spool, log } = await openSpool(dir);
    mkdirSync(join(dir, "incoming"), { recursive: true });
    writeFileSync(join(dir, "incoming", "000000000000001-x-bad.report"), "not an entry");
    await Spool.handOff(dir, "good", bytes(3), "logs", 1_700_000_000_300);
    expect(await spool.adoptIncoming()).toBe(1);
    expect(readdirSync(join(dir, "incoming"))).toEqual([]);
    expect(log.lines.join("\n")).toContain("is corrupt");
  });
});
