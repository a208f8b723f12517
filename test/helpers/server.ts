// Starts the real server from source on a free 127.0.0.1 port, as a child process, and stops it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const REPO = join(import.meta.dir, "..", "..");
export const BUN = process.execPath;

export interface RunningServer {
  url: string;
  port: number;
  dataDir: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** A new folder under the run's temporary root (test/setup.ts removes the root when the run ends). */
export function tempDir(prefix = "relevo-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A 127.0.0.1 port nothing listens on right now (bound then released). */
export function freePort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = server.port as number;
  server.stop(true);
  return port;
}

/**
 * Spawns `relevo-server serve --port 0` and waits for its "listening on" line. `repo` runs the sources of
 * another checkout (benchmarks compare two commits side by side).
 */
export async function startServer(
  args: string[] = [],
  dataDir = tempDir(),
  repo = REPO,
): Promise<RunningServer> {
  const proc = Bun.spawn(
    [BUN, join(repo, "src", "server", "cli.ts"), "serve", "--port", "0", "--data", dataDir, ...args],
    {
      cwd: repo,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  let log = "";
  const reader = proc.stderr.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + 15_000;
  let port = 0;
  while (!port) {
    const next = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)]);
    if (!next || next.done) {
      proc.kill("SIGKILL");
      throw new Error(`server did not start:\n${log}`);
    }
    log += decoder.decode(next.value);
    port = Number(/listening on https?:\/\/[^\s]+:(\d+)/.exec(log)?.[1] ?? 0);
  }
  // Keep draining stderr so the child never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const next = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (next.done) break;
      log += decoder.decode(next.value);
    }
  })();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    proc,
    stderr: () => log,
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}
