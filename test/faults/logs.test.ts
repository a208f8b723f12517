// The real server process with central logs: killed with SIGKILL under load from 8 clients, twice over one
// data directory; every acknowledged entry is in relevo.db afterwards, exactly once. On a real full disk
// (a 4 MiB tmpfs, where mount(8) is allowed) posts get 503 and work again once there is room. And a
// damaged relevo.db makes the real server refuse to start, leaving the file as it was.

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../helpers/server.ts";

const running = new Set<RunningServer>();
afterAll(async () => {
  for (const server of running) {
    server.proc.kill("SIGKILL");
    await server.proc.exited;
  }
});

async function start(dir: string): Promise<RunningServer> {
  const server = await startServer(["--rate-limit", "0"], dir);
  running.add(server);
  return server;
}

/** 8 clients posting batches of 20 entries with their own entry ids until the server is gone. */
function load(server: RunningServer, round: number) {
  const acked: string[] = [];
  let stopped = false;
  const client = async (n: number) => {
    for (let i = 0; !stopped; i++) {
      const ids = Array.from({ length: 20 }, (_, k) => `r${round}-c${n}-${i}-${k}`);
      const body = ids.map((entry_id) => ({
        timestamp: new Date().toISOString(),
        service: `svc-${n}`,
        severity: "INFO",
        message: `entry ${entry_id}`,
        entry_id,
      }));
      try {
        const res = await fetch(`${server.url}/logs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        await res.arrayBuffer();
        if (res.status === 201) acked.push(...ids);
      } catch {
        if (server.proc.exitCode !== null || server.proc.signalCode !== null) return;
        await Bun.sleep(5);
      }
    }
  };
  const done = Promise.all(Array.from({ length: 8 }, (_, n) => client(n)));
  return { acked, done, stop: () => (stopped = true) };
}

describe("kill -9 during log ingest", () => {
  test("loses no acknowledged entry and stores none twice", async () => {
    const dir = tempDir();
    const acked: string[] = [];
    for (let round = 0; round < 2; round++) {
      const server = await start(dir);
      const clients = load(server, round);
      await Bun.sleep(1500);
      server.proc.kill("SIGKILL");
      await server.proc.exited;
      running.delete(server);
      clients.stop();
      await clients.done;
      expect(clients.acked.length).toBeGreaterThan(0);
      acked.push(...clients.acked);
    }
    const db = new Database(join(dir, "relevo.db"), { readonly: true });
    const stored = new Set(
      (db.query("SELECT entry_id FROM logs").all() as { entry_id: string }[]).map((row) => row.entry_id),
    );
    const rows = (db.query("SELECT count(*) AS n FROM logs").get() as { n: number }).n;
    db.close();
    expect(rows).toBe(stored.size);
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
    // And the server starts again on what was left.
    const server = await start(dir);
    const health = (await (await fetch(`${server.url}/health`)).json()) as { logs: { entries: number } };
    expect(health.logs.entries).toBe(rows);
    expect(await server.stop()).toBe(0);
    running.delete(server);
  }, 60_000);
});

function sh(...cmd: string[]): boolean {
  return Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}
const mountPoint = tempDir("relevo-logs-tmpfs-");
const mounted = sh("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint);
afterAll(() => {
  if (mounted && !sh("umount", mountPoint)) sh("umount", "-l", mountPoint);
  rmSync(mountPoint, { recursive: true, force: true });
});

describe("a real full disk", () => {
  test.skipIf(!mounted)(
    "posts get 503 with nothing half-stored, and succeed again once there is room",
    async () => {
      const dir = join(mountPoint, "data");
      mkdirSync(dir);
      const server = await start(dir);
      const post = (tag: string) =>
        fetch(`${server.url}/logs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(
            Array.from({ length: 50 }, (_, i) => ({
              timestamp: "2025-08-27T10:00:00Z",
              service: "s",
              severity: "INFO",
              message: `${tag}-${i} ${"x".repeat(2000)}`,
            })),
          ),
        });
      let acked = 0;
      let refused = 0;
      for (let i = 0; i < 200 && refused < 3; i++) {
        const res = await post(`b${i}`);
        const body = (await res.json()) as { error?: { code: string } };
        if (res.status === 201) acked++;
        else {
          expect(res.status).toBe(503);
          expect(body.error?.code).toBe("store_unavailable");
          refused++;
        }
      }
      expect(refused).toBe(3);
      expect(acked).toBeGreaterThan(0);
      const health = (await (await fetch(`${server.url}/health`)).json()) as {
        logs: { writable: boolean; entries: number };
      };
      expect(health.logs.writable).toBe(false);
      expect(health.logs.entries).toBe(acked * 50);
      // Room again: retention by size frees pages inside the database; here the operator grows the disk.
      expect(sh("mount", "-o", "remount,size=16m", mountPoint)).toBe(true);
      expect((await post("after")).status).toBe(201);
      const after = (await (await fetch(`${server.url}/health`)).json()) as {
        logs: { writable: boolean; entries: number };
      };
      expect(after.logs).toMatchObject({ writable: true, entries: (acked + 1) * 50 });
      expect(await server.stop()).toBe(0);
      running.delete(server);
    },
    60_000,
  );
});

describe("a damaged relevo.db", () => {
  test("the real server refuses to start, says why, and leaves the file as it was", async () => {
    const dir = tempDir();
    const path = join(dir, "relevo.db");
    writeFileSync(path, "SQLite? no: a log line pasted over the database\n".repeat(100));
    const before = readFileSync(path);
    const proc = Bun.spawn(
      [BUN, join(REPO, "src", "server", "cli.ts"), "serve", "--port", "0", "--data", dir],
      {
        cwd: REPO,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const code = await proc.exited;
    const stderr = await new Response(proc.stderr).text();
    expect(code).toBe(1);
    expect(stderr).toContain(`${path} cannot be used: it is not an SQLite database`);
    expect(stderr).not.toContain("listening on");
    expect(readFileSync(path).equals(before)).toBe(true);
  }, 30_000);
});
