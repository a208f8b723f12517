// The process list against the kernel's own answers, on real processes this test starts.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectReport } from "../../../src/agent/collect/index.ts";
import type { ProcessInfo } from "../../../src/shared/report.ts";

const linux = process.platform === "linux";
const quiet: { stdio: ["ignore", "ignore", "ignore"] } = { stdio: ["ignore", "ignore", "ignore"] };

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
    // sh starts `true` in the background and becomes sleep, which never reaps it.
    const parent = Bun.spawn(["sh", "-c", "/bin/true & exec sleep 44"], quiet);
    children.push(parent);
    await Bun.sleep(200);
    const { processes } = await collectReport({ sampleMs: 0 });
    const zombie = processes.list.find((p) => p.ppid === parent.pid);
    expect(zombie).toMatchObject({ name: "true", state: "zombie", memory_rss_bytes: 0 });
    expect(find(processes.list, parent.pid)?.state).toBe("sleeping");
  });
});
