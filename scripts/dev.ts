// `npm start`: the quick start. Runs relevo-server on 127.0.0.1 (port 5000, or PORT / --port) with its data
// in ./data, and a real agent reporting to it every few seconds, both from source. Ctrl-C or SIGTERM stops
// both (the agent first, so its last report is delivered or spooled) and exits 0.
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    data: { type: "string" },
    interval: { type: "string" },
    spool: { type: "string" },
  },
});
const port = Number(values.port ?? process.env.PORT ?? 5000);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  throw new Error(
    `--port (or PORT) must be a TCP port from 1 to 65535, got "${values.port ?? process.env.PORT}"`,
  );
}
const data = values.data ?? "./data";
const interval = values.interval ?? "5";
const repo = resolve(import.meta.dir, "..");
// Outside ./data: the server's directory holds only what the server writes. Kept between runs, so reports
// collected while the server was stopped arrive at the next start.
const spool = values.spool ?? join(tmpdir(), "relevo-dev", `spool-${port}`);
const base = `http://127.0.0.1:${port}`;
const bun = process.execPath;

function start(args: string[]): Subprocess {
  // Logs of both go to this terminal, each line tagged by its own logger.
  return Bun.spawn([bun, ...args], { cwd: repo, stdin: "ignore", stdout: "inherit", stderr: "inherit" });
}

/** Polls /health until the server answers, or its process ends first. */
async function ready(server: Subprocess, deadlineMs: number): Promise<boolean> {
  let exited = false;
  void server.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadlineMs && !exited) {
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return true;
    } catch {
      // Not listening yet.
    }
    await Bun.sleep(100);
  }
  return false;
}

const server = start([
  "src/server/cli.ts",
  "serve",
  "--host",
  "127.0.0.1",
  "--port",
  String(port),
  "--data",
  data,
]);
let agent: Subprocess | undefined;
let stopping = false;

async function stop(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`\nrelevo dev: ${why}; stopping the agent, then the server`);
  if (agent && agent.exitCode === null) {
    agent.kill("SIGTERM");
    await agent.exited;
  }
  if (server.exitCode === null) {
    server.kill("SIGTERM");
    await server.exited;
  }
}

// A terminal's Ctrl-C reaches the children too; they stop on either signal, so both arriving is harmless.
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));

const up = await ready(server, Date.now() + 20_000);
if (!up && !stopping) {
  await stop("the server did not start");
  process.exitCode = 1;
} else if (up && !stopping) {
  agent = start(["src/agent/cli.ts", "run", "--url", base, "--interval", interval, "--spool", spool]);
  console.error(
    [
      "",
      `relevo dev: server on ${base} (data in ${resolve(repo, data)}), agent reporting every ${interval} s (spool ${spool})`,
      "  Look at what it stores:",
      `    curl '${base}/query?ip=127.0.0.1'`,
      `    curl '${base}/hosts'`,
      `    curl '${base}/files'`,
      `    curl '${base}/health'`,
      "  Ctrl-C stops both.",
      "",
    ].join("\n"),
  );
  // Either one ending on its own ends the quick start.
  const first = await Promise.race([
    server.exited.then((code) => ({ name: "server", code })),
    agent.exited.then((code) => ({ name: "agent", code })),
  ]);
  if (!stopping) {
    await stop(`the ${first.name} exited with code ${first.code}`);
    process.exitCode = first.code || 1;
  }
}
if (stopping) {
  await Promise.all([server.exited, agent?.exited]);
  const codes = [server.exitCode, agent?.exitCode ?? 0];
  if (process.exitCode === undefined && codes.some((c) => c !== 0 && c !== null)) process.exitCode = 1;
}
