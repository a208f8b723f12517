// The process list against the kernel's own answers, on real processes this test starts.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectReport } from "../../../src/agent/collect/index.ts";
import { cpuPercents, type RawProcess } from "../../../src/agent/collect/processes.ts";
import type { ProcessInfo } from "../../../src/shared/report.ts";

const linux = process.platform === "linux";
const quiet: { stdio: ["ignore", "ignore", "ignore"] } = { stdio: ["ignore", "ignore", "ignore"] };

describe("cpuPercents", () => {
  const raw = (extra: Partial<RawProcess>): RawProcess => ({
    pid: 7,
    ppid: 1,
    name: "x",
    user: "root",
    memory_rss_bytes: 0,
    started_at: null,
    command: "",
    key: "7:100",
    cpu_seconds: 1.5,
    start_ms: 0,
    ...extra,
  });
  const previous = { at: 900, processes: new Map([["7:100", 1]]), readAt: new Map([["7:100", 1000]]) };

  test("times each process's window from its own two readings, not from the scans' starts", () => {
    // The scan began at 900 but reached this process at 1000; the second reached it at 1500.
    expect(cpuPercents([raw({ read_at: 1500 })], previous, 1000, 0)).toEqual([100]);
    expect(cpuPercents([raw({})], previous, 1000, 0)).toEqual([50]);
  });

  test("never gives a process more than 100 per thread", () => {
    expect(cpuPercents([raw({ read_at: 1250, max_percent: 100 })], previous, 1000, 0)).toEqual([100]);
    expect(cpuPercents([raw({ read_at: 1250, max_percent: 400 })], previous, 1000, 0)).toEqual([200]);
  });
});

describe.if(linux)("processes read from /proc", () => {
  const dir = mkdtempSync(join(tmpdir(), "relevo-processes-"));
  const children: Bun.Subprocess[] = [];
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(children.map((child) => child.exited));
    rmSync(dir, { recursive: true, force: true });
  });
  const find = (list: ProcessInfo[], pid: number | undefined) => list.find((p) => p.pid === pid);

  test("gives the resident set statm and ps give, not stat's lagging rss", async () => {
    const sleeper = Bun.spawn(["sleep", "41"], quiet);
    children.push(sleeper);
    await Bun.sleep(100);
    const { processes } = await collectReport({ sampleMs: 0 });
    const pages = Number(readFileSync(`/proc/${sleeper.pid}/statm`, "utf8").split(" ")[1]);
    const vmRss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${sleeper.pid}/status`, "utf8"))?.[1]);
    expect(find(processes.list, sleeper.pid)?.memory_rss_bytes).toBe(vmRss * 1024);
    expect(vmRss * 1024).toBe(pages * 4096);
  });

  test("dates each start to the hundredth of a second the kernel keeps, not the whole second of btime", async () => {
    const spawned: { pid: number; before: number; after: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const before = Date.now();
      const child = Bun.spawn(["sleep", "42"], quiet);
      const after = Date.now();
      children.push(child);
      spawned.push({ pid: child.pid, before, after });
      await Bun.sleep(37);
    }
    const { processes } = await collectReport({ sampleMs: 0 });
    for (const { pid, before, after } of spawned) {
      const started = Date.parse(find(processes.list, pid)?.started_at ?? "");
      // One clock tick (10 ms) each side, and the uptime's own hundredth.
      expect({ pid, early: before - started <= 21, late: started - after <= 21 }).toEqual({
        pid,
        early: true,
        late: true,
      });
    }
  });

  test("keeps the full name of an executable whose path has a space", async () => {
    mkdirSync(join(dir, "My App"));
    const exe = join(dir, "My App", "relevo-long-named-sleeper");
    copyFileSync(Bun.which("sleep") ?? "/bin/sleep", exe);
    Bun.spawnSync(["chmod", "755", exe]);
    const child = Bun.spawn([exe, "43"], quiet);
    children.push(child);
    await Bun.sleep(100);
    const { processes } = await collectReport({ sampleMs: 0 });
    expect(find(processes.list, child.pid)).toMatchObject({
      name: "relevo-long-named-sleeper",
      command: `${exe} 43`,
    });
  });

  test("says a zombie is a zombie, and a sleeper is sleeping", async () => {
    // sh starts `true` in the background and blocks reading stdin, not reaping it until stdin closes; then
    // `wait` reaps it (PID 1 here reaps no orphans, so the zombie must not outlive its parent).
    const parent = Bun.spawn(["sh", "-c", "/bin/true & read line; wait"], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      await Bun.sleep(200);
      const { processes } = await collectReport({ sampleMs: 0 });
      const zombie = processes.list.find((p) => p.ppid === parent.pid);
      expect(zombie).toMatchObject({ name: "true", state: "zombie", memory_rss_bytes: 0 });
      expect(find(processes.list, parent.pid)?.state).toBe("sleeping");
    } finally {
      parent.stdin.end();
      await parent.exited;
    }
  });

  test("never puts a single-threaded busy loop above one CPU, even among 1,500 more processes", async () => {
    // At nice -20 (root) the loop gets a whole core even on a machine busy with other work.
    const nice = process.getuid?.() === 0 ? ["nice", "-n", "-20"] : [];
    const spinner = Bun.spawn([...nice, "sh", "-c", "while :; do :; done"], quiet);
    children.push(spinner);
    // One shell forks the 1,500 sleepers (far faster than 1,500 spawns) and, on TERM, kills and reaps them.
    const crowd = Bun.spawn(
      [
        "sh",
        "-c",
        "p=; trap 'kill $p; wait; exit 0' TERM; i=0; while [ $i -lt 1500 ]; do sleep 120 & p=\"$p $!\"; i=$((i+1)); done; echo ready; wait",
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "ignore" },
    );
    try {
      await crowd.stdout.getReader().read();
      const seen: number[] = [];
      for (let run = 0; run < 3; run++) {
        const { processes } = await collectReport({});
        expect(processes.total).toBeGreaterThan(1500);
        seen.push(find(processes.list, spinner.pid)?.cpu_percent ?? -1);
      }
      // Two cores shared with other work: the loop does not always get a whole one, but never more than one.
      expect({ seen, ok: seen.every((percent) => percent > 0 && percent <= 102) }).toEqual({
        seen,
        ok: true,
      });
    } finally {
      crowd.kill("SIGTERM");
      await crowd.exited;
    }
  }, 150_000);
});
