// The real server on a real small file system: a 2 MiB tmpfs filled up (true ENOSPC, short writes included),
// and the same tmpfs remounted read-only. Needs mount(8) rights (root in a container usually has them); where
// mounting fails the tests are skipped and the injected variants in injected.test.ts still run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { expectIntact } from "./helpers.ts";

const ARGS = ["--rate-limit", "0", "--trust-proxy", "127.0.0.1"];
const mountPoint = tempDir("relevo-tmpfs-");
const running = new Set<RunningServer>();
let mounted = false;

function run(...cmd: string[]): boolean {
  const result = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe" });
  return result.exitCode === 0;
}

beforeAll(() => {
  mounted = run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint);
  if (!mounted)
    console.log("disk tests: cannot mount a tmpfs here; skipped (the injected variants still run)");
});

afterAll(async () => {
  for (const server of running) {
    server.proc.kill("SIGKILL");
    await server.proc.exited;
  }
  if (mounted && !run("umount", mountPoint)) run("umount", "-l", mountPoint);
  rmSync(mountPoint, { recursive: true, force: true });
});

async function start(dir: string): Promise<RunningServer> {
  const server = await startServer(ARGS, dir);
  running.add(server);
  return server;
}

async function stop(server: RunningServer): Promise<number> {
  const code = await server.stop();
  running.delete(server);
  return code;
}

async function upload(server: RunningServer, ip: string) {
  const report = sampleReport();
  const res = await fetch(`${server.url}/upload`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify(report),
  });
  return { status: res.status, body: await jsonOf(res), id: report.report_id };
}

describe("a real full disk (2 MiB tmpfs)", () => {
  test("uploads get 503 with a JSON error, what was stored parses, uploads succeed once there is space", async () => {
    if (!mounted) return;
    const dir = join(mountPoint, "full");
    mkdirSync(dir);
    const server = await start(dir);
    const acked = new Set<string>();
    const ips = ["10.1.0.1", "10.1.0.2", "10.1.0.3"];
    for (let i = 0; i < 6; i++) {
      const answer = await upload(server, ips[i % 3] as string);
      expect(answer.status).toBe(201);
      acked.add(answer.id);
    }
    // Fill what is left but a few KB, then upload until the disk says no.
    const filler = join(mountPoint, "filler");
    const statfs = () => {
      const out = Bun.spawnSync(["df", "-B1", "--output=avail", mountPoint]).stdout.toString();
      return Number(out.trim().split("\n").at(-1));
    };
    writeFileSync(filler, Buffer.alloc(Math.max(0, statfs() - 40_000)));
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < 40 && refused < 10; i++) {
      const answer = await upload(server, ips[i % 3] as string);
      if (answer.status === 503) {
        expect(answer.body.error.code).toBe("store_unavailable");
        expect(answer.body.error.message).toContain("disk is full");
        refused++;
      } else {
        expect(answer.status).toBe(201);
        acked.add(answer.id);
        accepted++;
      }
    }
    expect(refused).toBe(10);
    // Stored before (and while filling up) is all there, once, and every file parses.
    expectIntact(dir, acked);
    const health = await jsonOf(await fetch(`${server.url}/health`));
    expect(health.status).toBeDefined();
    rmSync(filler);
    for (let i = 0; i < 6; i++) {
      const answer = await upload(server, ips[i % 3] as string);
      expect(answer.status).toBe(201);
      acked.add(answer.id);
    }
    const check = expectIntact(dir, acked);
    expect(check.counts.size).toBe(acked.size);
    expect(await stop(server)).toBe(0);
    // And after a restart, with the journal replayed: still exactly the acknowledged reports.
    const again = await start(dir);
    expect(expectIntact(dir, acked).counts.size).toBe(acked.size);
    expect(await stop(again)).toBe(0);
    console.log(
      `disk full (tmpfs): ${refused} uploads refused with 503 once full, ${accepted} squeezed in first, ${acked.size} acknowledged, lost 0`,
    );
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);
});

describe("a data directory on a read-only file system", () => {
  test("503 on upload, /health says writable false, reads still served; writable again after remount rw", async () => {
    if (!mounted) return;
    const dir = join(mountPoint, "ro");
    mkdirSync(dir);
    const first = await start(dir);
    const stored = await upload(first, "10.2.0.1");
    expect(stored.status).toBe(201);
    expect(await stop(first)).toBe(0);
    expect(run("mount", "-o", "remount,ro", mountPoint)).toBe(true);
    let server: RunningServer;
    try {
      server = await start(dir);
      const health = await jsonOf(await fetch(`${server.url}/health`));
      expect(health.status).toBe("degraded");
      expect(health.store.writable).toBe(false);
      // Central logs cannot open relevo.db read-only (WAL needs its -shm file): 503 until a restart.
      expect(health.logs.writable).toBe(false);
      const log = await fetch(`${server.url}/logs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          timestamp: "2025-08-27T10:00:00Z",
          service: "s",
          severity: "INFO",
          message: "m",
        }),
      });
      expect(log.status).toBe(503);
      // Straight away and after the store's once-a-second retry.
      for (const wait of [0, 0, 1100]) {
        await Bun.sleep(wait);
        const answer = await upload(server, "10.2.0.1");
        expect(answer.status).toBe(503);
        expect(answer.body.error.code).toBe("store_unavailable");
        expect(answer.body.error.message).toContain("not writable");
      }
      const query = await fetch(`${server.url}/query?ip=10.2.0.1`);
      expect(query.status).toBe(200);
      expect((await jsonOf(query)).map((r: { report_id: string }) => r.report_id)).toEqual([stored.id]);
    } finally {
      expect(run("mount", "-o", "remount,rw", mountPoint)).toBe(true);
    }
    await Bun.sleep(1100);
    const answer = await upload(server, "10.2.0.1");
    expect(answer.status).toBe(201);
    expect((await jsonOf(await fetch(`${server.url}/health`))).store.writable).toBe(true);
    expect(await stop(server)).toBe(0);
    expectIntact(dir, [stored.id, answer.id]);
  }, 30_000);
});
