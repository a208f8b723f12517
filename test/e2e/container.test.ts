// What the Dockerfile's image does, checked without a Docker engine: the compiled server the image copies
// runs as PID 1 of a fresh PID namespace (unshare --pid --fork --mount-proc, as root), answers the
// HEALTHCHECK command, serves /docs and /openapi.json from what is compiled in, leaves alone (does not reap) a process it did not start, stops on SIGTERM with exit
// 0, and a second start on the same data directory finds what the first stored.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { sampleReport } from "../helpers/report.ts";
import { freePort, tempDir } from "../helpers/server.ts";
import { BUILD_TIMEOUT_MS, executables, isolate, run } from "./_run.ts";

const unshare = Bun.which("unshare");
const nsenter = Bun.which("nsenter");
const root = process.getuid?.() === 0;
const linuxX64 = process.platform === "linux" && process.arch === "x64";

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const at = line.indexOf(":");
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return out;
}

/** The one child of `pid` (unshare --fork's child: the server), by its host pid. */
async function childOf(pid: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    if (children) return Number(children.split(" ")[0]);
    await Bun.sleep(20);
  }
  throw new Error("unshare started no child");
}

/** Host pids of the processes whose parent is `pid`, with their state letter. */
function childrenStates(pid: number): { pid: number; state: string; name: string }[] {
  const out: { pid: number; state: string; name: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = status(Number(entry));
      if (Number(s.PPid) === pid)
        out.push({ pid: Number(entry), state: (s.State ?? "?")[0] as string, name: s.Name ?? "" });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

async function startAsPid1(server: string, dir: string, port: number) {
  const proc = Bun.spawn(
    [
      unshare as string,
      "--pid",
      "--fork",
      "--mount-proc",
      server,
      "serve",
      "--port",
      String(port),
      "--data",
      dir,
    ],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  const pid = await childOf(proc.pid);
  const deadline = Date.now() + 20_000;
  while (!log.includes("listening on") && Date.now() < deadline && proc.exitCode === null)
    await Bun.sleep(25);
  expect(log).toContain("listening on");
  return { proc, pid, log: () => log };
}

test.skipIf(!root || !unshare || !nsenter || !linuxX64)(
  "the compiled server as PID 1: health, no reaping of others, SIGTERM exit 0, restart on the same data",
  async () => {
    const built = await executables(["linux-x64"], ["server"]);
    const server = isolate([(built["server-linux-x64"] as { path: string }).path])[
      "relevo-server-linux-x64"
    ] as string;
    const dir = tempDir();
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;

    const first = await startAsPid1(server, dir, port);
    try {
      // PID 1 in its own namespace (NSpid: host pid, then 1).
      expect(status(first.pid).NSpid?.split(/\s+/).at(-1)).toBe("1");
      const health = await run([server, "health", "--url", url]);
      expect(health.code).toBe(0);
      // The executable carries Swagger UI and builds its OpenAPI document (hono-openapi, compiled in).
      const bundle = await fetch(`${url}/docs/swagger-ui-bundle.js`);
      expect(bundle.status).toBe(200);
      expect((await bundle.text()).length).toBeGreaterThan(1_000_000);
      const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/upload", "/metrics", "/docs"]));
      const report = sampleReport();
      const res = await fetch(`${url}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(report),
      });
      expect(res.status).toBe(201);

      // An orphan in the namespace is re-parented to the server; when it exits it stays a zombie: the
      // server waits only for what it started (it starts nothing), so it steals no one's exit status.
      const orphan = await run([
        nsenter as string,
        "-t",
        String(first.pid),
        "-p",
        "-m",
        "--",
        "sh",
        "-c",
        "sleep 0.2 & exit 0",
      ]);
      expect(orphan.code).toBe(0);
      await Bun.sleep(700);
      const kids = childrenStates(first.pid);
      expect(kids.filter((kid) => kid.name === "sleep").map((kid) => kid.state)).toEqual(["Z"]);
      expect((await run([server, "health", "--url", url])).code).toBe(0);

      process.kill(first.pid, "SIGTERM");
      expect(await first.proc.exited).toBe(0);
      expect(first.log()).toContain("stopped");
    } finally {
      if (first.proc.exitCode === null) first.proc.kill("SIGKILL");
    }

    const second = await startAsPid1(server, dir, port);
    try {
      const stored = (await (await fetch(`${url}/query?ip=127.0.0.1`)).json()) as { report_id: string }[];
      expect(stored.length).toBe(1);
      process.kill(second.pid, "SIGTERM");
      expect(await second.proc.exited).toBe(0);
    } finally {
      if (second.proc.exitCode === null) second.proc.kill("SIGKILL");
    }
    // With nothing listening, the HEALTHCHECK command fails.
    expect((await run([server, "health", "--url", url, "--timeout", "2"])).code).toBe(1);
  },
  BUILD_TIMEOUT_MS + 60_000,
);
