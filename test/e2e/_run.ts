// Helpers for the end-to-end tests: build what a test needs (reusing a fresh build in dist/), run a compiled
// executable with a time limit, start the compiled server on a free 127.0.0.1 port.
import { chmodSync, copyFileSync } from "node:fs";
import { basename, join } from "node:path";
import { type AppName, type Built, build, REPO, type TargetName } from "../../scripts/build.ts";
import { tempDir } from "../helpers/server.ts";

export { REPO };

/** How long a first build of a pair may take on a busy 2-core machine. */
export const BUILD_TIMEOUT_MS = 240_000;

export { tempDir };

/** Builds (or reuses) the executables into dist/, without touching dist/SHA256SUMS. */
export async function executables(targets: TargetName[], apps?: AppName[]): Promise<Record<string, Built>> {
  const built = await build({ targets, apps, outdir: join(REPO, "dist"), sums: false });
  return Object.fromEntries(built.map((one) => [`${one.app}-${one.target}`, one]));
}

/** Copies executables into a new empty folder: nothing next to them, no sources, no node_modules. */
export function isolate(files: string[]): Record<string, string> {
  const dir = tempDir("relevo-e2e-bin-");
  const out: Record<string, string> = {};
  for (const file of files) {
    const copy = join(dir, basename(file));
    copyFileSync(file, copy);
    chmodSync(copy, 0o755);
    out[basename(file)] = copy;
  }
  return out;
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command to its end, killed after `timeoutMs`. */
export async function run(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<Ran> {
  const proc = Bun.spawn(argv, {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, options.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr, timedOut };
}

export interface CompiledServer {
  url: string;
  port: number;
  log: () => string;
  stop: () => Promise<number>;
}

/** Starts `serve --port 0` from argv (a compiled server, maybe under `env -i`) and waits for its address. */
export async function startServer(
  argv: string[],
  cwd: string,
  env?: Record<string, string>,
): Promise<CompiledServer> {
  const proc = Bun.spawn(argv, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let log = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) log += decoder.decode(chunk);
  };
  void drain(proc.stdout);
  void drain(proc.stderr);
  const deadline = Date.now() + 20_000;
  let port = 0;
  while (!port) {
    port = Number(/listening on https?:\/\/[^\s]+:(\d+)/.exec(log)?.[1] ?? 0);
    if (port) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`the server did not start (exit ${proc.exitCode}):\n${log}`);
    }
    await Bun.sleep(25);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The reports the server holds for 127.0.0.1 today (newest day), oldest first. */
export async function reportsFrom127(url: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${url}/query?ip=127.0.0.1`);
  if (response.status === 404) return [];
  if (!response.ok) throw new Error(`GET /query: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>[];
}
