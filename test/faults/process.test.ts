// The real server process under uploads from 8 clients: killed with SIGKILL three times over one data
// directory, then stopped with SIGTERM. After each restart every acknowledged report is stored exactly once
// and every day file parses.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { jsonOf } from "../helpers/json.ts";
import { sampleReport } from "../helpers/report.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { checkDir, expectIntact } from "./helpers.ts";

const CLIENTS = 8;
// Each client is its own host (a trusted proxy forwards for it), so the uploads go to 8 day files.
// A proxy in front means tokens unless --no-auth: these tests are about the store, not auth.
const ARGS = ["--rate-limit", "0", "--trust-proxy", "127.0.0.1", "--no-auth"];
const running = new Set<RunningServer>();

afterAll(async () => {
  for (const server of running) server.proc.kill("SIGKILL");
});

async function start(dir: string, extra: string[] = []): Promise<RunningServer> {
  const server = await startServer([...ARGS, ...extra], dir);
  running.add(server);
  return server;
}

interface Load {
  acked: Set<string>;
  refused: number;
  failed: number;
  /** Resolves when every client has stopped (the server is gone or `stop` was called). */
  done: Promise<void>;
  stop(): void;
}

/** 8 clients uploading in a loop; a report counts as acknowledged only on 201/200. */
function uploadLoad(server: RunningServer): Load {
  const acked = new Set<string>();
  let stopped = false;
  const load = { acked, refused: 0, failed: 0 };
  const client = async (n: number) => {
    const ip = `10.9.0.${n + 1}`;
    while (!stopped) {
      const report = sampleReport();
      try {
        const res = await fetch(`${server.url}/upload`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": ip },
          body: JSON.stringify(report),
        });
        await res.arrayBuffer();
        if (res.status === 201 || res.status === 200) acked.add(report.report_id);
        else load.refused++;
      } catch {
        // Connection refused or reset: the server is gone. Not acknowledged.
        load.failed++;
        if (server.proc.exitCode !== null || server.proc.signalCode !== null) return;
        await Bun.sleep(5);
      }
    }
  };
  const done = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n))).then(() => {});
  return Object.assign(load, {
    done,
    stop: () => {
      stopped = true;
    },
  });
}

describe("the server process killed or stopped mid-upload", () => {
  test("SIGKILL while 8 clients upload, three rounds over one data directory", async () => {
    const dir = tempDir("relevo-kill-");
    const everAcked = new Set<string>();
    let rounds = 0;
    let lost = 0;
    let server = await start(dir);
    for (let round = 1; round <= 3; round++) {
      const load = uploadLoad(server);
      // Between 1 and 2 s of uploads, then kill -9 in the middle of the stream.
      await Bun.sleep(1000 + Math.floor(Math.random() * 1000));
      const before = load.acked.size;
      server.proc.kill("SIGKILL");
      await server.proc.exited;
      running.delete(server);
      load.stop();
      await load.done;
      expect(before).toBeGreaterThan(20);
      for (const id of load.acked) everAcked.add(id);
      // Restart on the same directory: recovery runs before the server listens.
      server = await start(dir);
      const result = expectIntact(dir, everAcked);
      lost += result.lost;
      expect(result.files.size).toBe(CLIENTS);
      const health = await jsonOf(await fetch(`${server.url}/health`));
      expect(health.store.writable).toBe(true);
      rounds++;
      console.log(
        `SIGKILL round ${round}: ${load.acked.size} acknowledged (${everAcked.size} in all), ${load.failed} requests cut, lost ${result.lost}, files parse`,
      );
    }
    expect(await server.stop("SIGTERM")).toBe(0);
    running.delete(server);
    expectIntact(dir, everAcked);
    // The clean stop checkpointed: nothing left to replay.
    expect(readdirSync(join(dir, ".journal"))).toEqual([]);
    console.log(
      `fault rounds survived: ${rounds}, acknowledged reports: ${everAcked.size}, acknowledged lost: ${lost}`,
    );
  }, 45_000);

  test("--fsync never, unjournaled: SIGKILL mid-upload loses nothing acknowledged", async () => {
    // A process crash keeps every completed write (the page cache survives it): that is the whole promise
    // of --fsync never, and why it writes no journal.
    const dir = tempDir("relevo-kill-never-");
    let server = await start(dir, ["--fsync", "never"]);
    const load = uploadLoad(server);
    await Bun.sleep(1000 + Math.floor(Math.random() * 500));
    server.proc.kill("SIGKILL");
    await server.proc.exited;
    running.delete(server);
    load.stop();
    await load.done;
    expect(load.acked.size).toBeGreaterThan(20);
    server = await start(dir, ["--fsync", "never"]);
    const result = expectIntact(dir, load.acked);
    expect(result.lost).toBe(0);
    expect(result.files.size).toBe(CLIENTS);
    expect(await server.stop("SIGTERM")).toBe(0);
    running.delete(server);
    console.log(
      `SIGKILL with --fsync never: ${load.acked.size} acknowledged, lost ${result.lost}, files parse`,
    );
  }, 30_000);

  test("SIGTERM during uploads: in-flight writes finish, exit 0, nothing torn", async () => {
    const dir = tempDir("relevo-term-");
    const server = await start(dir);
    const load = uploadLoad(server);
    await Bun.sleep(800);
    const code = await server.stop("SIGTERM");
    running.delete(server);
    load.stop();
    await load.done;
    expect(code).toBe(0);
    expect(load.acked.size).toBeGreaterThan(20);
    // Read the files as the stopped server left them, before any recovery could tidy them.
    const check = expectIntact(dir, load.acked);
    expect(existsSync(join(dir, "relevo.lock"))).toBe(false);
    expect(readdirSync(join(dir, ".journal"))).toEqual([]);
    // Every stored report was acknowledged or was in flight when the stop began (at most one per client).
    const unacked = [...check.counts.keys()].filter((id) => !load.acked.has(id));
    expect(unacked.length).toBeLessThanOrEqual(CLIENTS);
    const restarted = await start(dir);
    expect(checkDir(dir).counts).toEqual(check.counts);
    expect(await restarted.stop()).toBe(0);
    running.delete(restarted);
    console.log(
      `SIGTERM: ${load.acked.size} acknowledged, ${check.counts.size} stored, exit ${code}, journal empty, lost ${check.lost}`,
    );
  }, 30_000);
});
