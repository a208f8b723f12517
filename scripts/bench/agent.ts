// `bun run bench agent [--runs 5] [--extra 1500]`: what the agent costs its host, side by side in one run.
// `--only rss|rss-loaded|collectors` runs one part; `--binary PATH` measures another build of the agent
// (a variant under test); `--env KEY=VALUE` (repeatable) goes to the running agent; `--seconds 30`.
//
// - `relevo-agent collect` (one-shot, from source, and the compiled binary when dist/ has one): wall time,
//   CPU seconds of the process and every child it waited for (wait4's rusage, as /usr/bin/time reports
//   it), peak RSS; with this machine's processes, then with `--extra` more `sleep` processes.
// - The process collector alone, in-process, against `systeminformation.processes()` and the seed's psutil
//   collector, each in a child process so the children they spawn (`ps`, one `cat` per process) count.
// - The size of the report with the extra processes, as JSON and gzip-compressed (what goes on the wire).
// - What each Linux collector costs alone, in-process, and the size of its section.
// - The RSS of a running agent between reports (anonymous and file-backed), reporting every 5 s to a tiny
//   127.0.0.1 server, from source and compiled, then compiled with `--extra` more processes (target 35 MB).
//
// Every `sleep` this starts is killed on the way out, also on error or Ctrl-C, and they end by themselves
// after 10 minutes whatever happens.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, median } from "./_stats.ts";

const ROOT = join(import.meta.dir, "..", "..");
const BUN = process.execPath;
const CLI = join(ROOT, "src", "agent", "cli.ts");
const BINARY = join(ROOT, "dist", `relevo-agent-linux-${process.arch === "arm64" ? "arm64" : "x64"}`);
const PEER = join(ROOT, "..", "shared", "peers", "flask_psutil", "collector.py");
const PYTHON = "/usr/bin/python3";

interface Run {
  wallMs: number;
  cpuS: number;
  rssMb: number;
  stdout: string;
}

/** Runs a command to completion; CPU and peak RSS come from the kernel's accounting of it and its children. */
async function measure(cmd: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = performance.now();
  const child = Bun.spawn(cmd, {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
  });
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const code = await child.exited;
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${stderr.slice(-500)}`);
  const usage = child.resourceUsage();
  if (!usage) throw new Error(`no resource usage for ${cmd.join(" ")}`);
  const cpuS = Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6;
  // Bun gives maxRSS in bytes (getrusage's kilobytes, converted).
  return { wallMs, cpuS, rssMb: usage.maxRSS / 1024 / 1024, stdout };
}

interface Summary {
  wallMs: number;
  cpuS: number;
  rssMb: number;
  last: Run;
}

async function repeat(runs: number, cmd: string[], env?: Record<string, string>): Promise<Summary> {
  const results: Run[] = [];
  for (let i = 0; i < runs; i++) results.push(await measure(cmd, env));
  return {
    wallMs: median(results.map((r) => r.wallMs)),
    cpuS: median(results.map((r) => r.cpuS)),
    rssMb: median(results.map((r) => r.rssMb)),
    last: results[results.length - 1] as Run,
  };
}

function row(label: string, s: Summary, extra = ""): string {
  return `  ${label.padEnd(44)} ${fmt(s.wallMs, 0).padStart(7)} ms wall ${fmt(s.cpuS, 3).padStart(7)} CPU-s ${fmt(s.rssMb).padStart(7)} MB peak RSS${extra}`;
}

/** Starts `count` sleep processes; the returned function kills them all. */
async function spawnSleepers(count: number): Promise<() => Promise<void>> {
  const sleepers: Bun.Subprocess[] = [];
  const kill = async () => {
    for (const sleeper of sleepers) sleeper.kill("SIGKILL");
    await Promise.all(sleepers.map((sleeper) => sleeper.exited));
    sleepers.length = 0;
  };
  try {
    for (let i = 0; i < count; i++) {
      sleepers.push(Bun.spawn(["sleep", "600"], { stdio: ["ignore", "ignore", "ignore"] }));
    }
  } catch (error) {
    await kill();
    throw error;
  }
  await Bun.sleep(200);
  return kill;
}

function processCount(): number {
  return Number(Bun.spawnSync(["sh", "-c", "ls -d /proc/[0-9]* | wc -l"]).stdout.toString().trim());
}

function psutilAvailable(): boolean {
  return (
    existsSync(PYTHON) && existsSync(PEER) && Bun.spawnSync([PYTHON, "-c", "import psutil"]).exitCode === 0
  );
}

/** Child modes: `bun scripts/bench/agent.ts child <mode>` prints {ms, count} for one in-process measurement. */
async function child(mode: string): Promise<void> {
  const started = performance.now();
  let count = 0;
  if (mode === "ours") {
    const { linuxProcessOptions, readLinuxProcesses } = await import("../../src/agent/collect/processes.ts");
    const t = performance.now();
    count = readLinuxProcesses(linuxProcessOptions("/", true)).length;
    console.log(JSON.stringify({ ms: performance.now() - t, count }));
    return;
  }
  if (mode === "si") {
    const si = await import("systeminformation");
    const t = performance.now();
    count = (await si.processes()).list.length;
    console.log(JSON.stringify({ ms: performance.now() - t, count }));
    return;
  }
  if (mode === "collectors") {
    // Each Linux collector alone, warm (the first call loads its module and fills caches), median of 21.
    const nodeOs = await import("node:os");
    const { collectorsFor } = await import("../../src/agent/collect/platform.ts");
    const collectors = collectorsFor("linux");
    const costs: Record<string, { us: number; bytes: number }> = {};
    for (const [area, collect] of Object.entries(collectors)) {
      const ctx = {
        root: "/",
        os: nodeOs,
        powerShell: async () => "",
        now: () => new Date(),
        monotonic: () => performance.now(),
        commandLines: true,
        previous: undefined,
        next: { at: 0 },
        partial: () => {},
      };
      let section: unknown = await collect(ctx);
      const times: number[] = [];
      for (let i = 0; i < 21; i++) {
        const t = performance.now();
        section = await collect(ctx);
        times.push((performance.now() - t) * 1000);
      }
      costs[area] = { us: median(times), bytes: JSON.stringify(section ?? null).length };
    }
    console.log(JSON.stringify(costs));
    return;
  }
  if (mode === "software") {
    const { softwareBench } = await import("./_software.ts");
    console.log(JSON.stringify(await softwareBench()));
    return;
  }
  throw new Error(`unknown child mode ${mode} (after ${performance.now() - started} ms)`);
}

async function inProcessMs(
  runs: number,
  mode: string,
): Promise<{ ms: number; count: number; child: Summary }> {
  const results: Run[] = [];
  const inner: { ms: number; count: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await measure([BUN, import.meta.path, "child", mode]);
    results.push(run);
    inner.push(JSON.parse(run.stdout));
  }
  return {
    ms: median(inner.map((r) => r.ms)),
    count: inner[inner.length - 1]?.count ?? 0,
    child: {
      wallMs: median(results.map((r) => r.wallMs)),
      cpuS: median(results.map((r) => r.cpuS)),
      rssMb: median(results.map((r) => r.rssMb)),
      last: results[results.length - 1] as Run,
    },
  };
}

interface AgentRss {
  median: number;
  max: number;
  /** Medians of the anonymous (heap, stacks) and file-backed (executable pages) parts of the RSS. */
  anon: number;
  file: number;
  reports: number;
  /** CPU seconds of the agent per report, from its first report to the end. */
  cpuPerReport: number;
}

/** utime + stime of a process in seconds (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** VmRSS of a running agent sampled between reports, against a server that answers 201. */
async function runningAgentRss(
  cmd: string[],
  seconds: number,
  env: Record<string, string> = {},
): Promise<AgentRss> {
  let reports = 0;
  let collecting = false;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      await request.arrayBuffer();
      reports++;
      return Response.json({ ok: true }, { status: 201 });
    },
  });
  const spool = mkdtempSync(join(tmpdir(), "relevo-bench-spool-"));
  const agent = Bun.spawn(
    [...cmd, "run", "--url", `http://127.0.0.1:${server.port}`, "--interval", "5", "--spool", spool],
    {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "ignore"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
    },
  );
  const rss: number[] = [];
  const anon: number[] = [];
  const file: number[] = [];
  let firstReport: { reports: number; cpu: number } | undefined;
  let cpuPerReport = Number.NaN;
  try {
    const until = performance.now() + seconds * 1000;
    let seen = 0;
    while (performance.now() < until) {
      await Bun.sleep(500);
      if (reports === 0) continue; // still starting
      if (firstReport === undefined) firstReport = { reports, cpu: cpuSeconds(agent.pid) };
      // Between reports: skip the sample taken while a report was just sent (the agent may still be
      // tearing it down); a report goes out every 5 s, one sample in ten is dropped.
      collecting = reports !== seen;
      seen = reports;
      if (collecting) continue;
      const status = readFileSync(`/proc/${agent.pid}/status`, "utf8");
      const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
      rss.push(kb("VmRSS"));
      anon.push(kb("RssAnon"));
      file.push(kb("RssFile") + kb("RssShmem"));
    }
    if (firstReport && reports > firstReport.reports) {
      cpuPerReport = (cpuSeconds(agent.pid) - firstReport.cpu) / (reports - firstReport.reports);
    }
  } finally {
    agent.kill("SIGTERM");
    await agent.exited;
    server.stop(true);
    rmSync(spool, { recursive: true, force: true });
  }
  return {
    median: median(rss),
    max: Math.max(...rss),
    anon: median(anon),
    file: median(file),
    reports,
    cpuPerReport,
  };
}

function rssRow(label: string, r: AgentRss, target = ""): string {
  return `  ${label.padEnd(30)} median ${fmt(r.median)} MB (anon ${fmt(r.anon)}, file ${fmt(r.file)}), max ${fmt(r.max)} MB, ${r.reports} reports, ${fmt(r.cpuPerReport, 3)} CPU-s per report${target}`;
}

export async function run(args: string[]): Promise<void> {
  if (process.platform !== "linux") throw new Error("bench agent measures /proc and rusage: run it on Linux");
  const option = (name: string, fallback: number) => {
    const index = args.indexOf(`--${name}`);
    return index >= 0 ? Number(args[index + 1]) : fallback;
  };
  const runs = option("runs", 5);
  // `--only rss`: the running agent alone; `--env KEY=VALUE` (repeatable) goes to the running agent.
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
  const env: Record<string, string> = {};
  args.forEach((arg, i) => {
    const pair = arg === "--env" ? (args[i + 1] ?? "") : "";
    if (pair.includes("=")) env[pair.slice(0, pair.indexOf("="))] = pair.slice(pair.indexOf("=") + 1);
  });
  const extra = option("extra", 1500);
  // `--binary PATH` measures another build of the agent (a variant under test) instead of dist/'s.
  const chosen = args.includes("--binary") ? (args[args.indexOf("--binary") + 1] ?? BINARY) : BINARY;
  const binary = existsSync(chosen) ? chosen : undefined;
  const peer = psutilAvailable();

  console.log(
    `bench agent: median of ${runs} runs, ${navigator.hardwareConcurrency} CPUs, bun ${Bun.version}`,
  );
  if (binary) {
    console.log(`  compiled binary: ${binary} (built ${statSync(binary).mtime.toISOString()})`);
    // As an installed binary is: written back to disk. Just after a build its page-cache pages are still
    // dirty, and a running agent measured 3-4 MB more RSS from it.
    const fd = openSync(binary, "r");
    fsyncSync(fd);
    closeSync(fd);
  }
  if (!peer)
    console.log("  psutil peer skipped: python3 with psutil is missing (apt-get install -y python3-psutil)");

  const phase = async (label: string) => {
    console.log(`\n${label}: ${processCount()} processes`);
    const source = await repeat(runs, [BUN, CLI, "collect"]);
    console.log(row("relevo-agent collect (bun src/agent/cli.ts)", source));
    let compiled: Summary | undefined;
    if (binary) {
      compiled = await repeat(runs, [binary, "collect"]);
      console.log(row("relevo-agent collect (compiled)", compiled));
    }
    const ours = await inProcessMs(runs, "ours");
    const si = await inProcessMs(runs, "si");
    console.log(`  process list alone, in-process (${ours.count} processes):`);
    console.log(`    ours (/proc)                   ${fmt(ours.ms, 1).padStart(8)} ms`);
    console.log(
      `    systeminformation.processes()  ${fmt(si.ms, 1).padStart(8)} ms  (${fmt(si.ms / ours.ms)}x ours)`,
    );
    console.log(row("  child: bun + ours", ours.child));
    console.log(
      row(
        "  child: bun + systeminformation.processes()",
        si.child,
        `  (${fmt(si.child.cpuS / ours.child.cpuS)}x CPU)`,
      ),
    );
    if (peer) {
      const psutil = await repeat(runs, [PYTHON, PEER, "--cpu-interval", "0"]);
      console.log(
        row(
          "  seed's psutil collector.py --cpu-interval 0",
          psutil,
          `  (${fmt(psutil.cpuS / source.cpuS)}x CPU of collect)`,
        ),
      );
    }
    return source;
  };

  if (only === "rss") return runningPhase(binary, extra, option("seconds", 30), env);
  if (only === "rss-loaded") return runningPhase(binary, extra, option("seconds", 30), env, true);
  if (only === "collectors") return collectorCosts();
  if (only === "software") return softwareCosts();
  await phase("this machine");
  const killSleepers = await spawnSleepers(extra);
  const stopOnSignal = () => {
    void killSleepers().then(() => process.exit(130));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    const loaded = await phase(`with ${extra} extra sleep processes`);
    const json = loaded.last.stdout;
    const gzip = Bun.gzipSync(new TextEncoder().encode(json));
    const report = JSON.parse(json) as { processes: { total: number } };
    console.log(
      `  report with ${report.processes.total} processes: ${fmt(json.length / 1024)} KiB JSON, ${fmt(gzip.byteLength / 1024)} KiB gzip on the wire`,
    );
    console.log(
      `  targets: collect <= 1000 ms wall and <= 0.300 CPU-s: ${loaded.wallMs <= 1000 && loaded.cpuS <= 0.3 ? "met" : "MISSED"}`,
    );
  } finally {
    process.off("SIGINT", stopOnSignal);
    process.off("SIGTERM", stopOnSignal);
    await killSleepers();
  }

  await collectorCosts();
  await softwareCosts();
  await runningPhase(binary, extra, option("seconds", 30), env);
}

/** Software collection over a 3,000-package dpkg database, and the report's size with and without its items. */
async function softwareCosts(): Promise<void> {
  const run = await measure([BUN, import.meta.path, "child", "software"]);
  const r = JSON.parse(run.stdout) as import("./_software.ts").SoftwareBench;
  const kib = (n: number) => `${fmt(n / 1024).padStart(7)} KiB`;
  console.log(`
software collection (in-process, median of ${r.runs}, first run ${fmt(r.firstMs, 1)} ms):`);
  const met = (ms: number) => (ms <= 50 ? "met" : "MISSED");
  console.log(`  load average ${loadavg()[0]?.toFixed(1)} on ${navigator.hardwareConcurrency} CPUs`);
  console.log(
    `  ${r.packages} dpkg packages, database unchanged   ${fmt(r.medianMs, 1).padStart(7)} ms wall ${fmt(r.medianCpuMs, 1).padStart(7)} ms CPU  (target <= 50 ms: ${met(r.medianMs)})`,
  );
  console.log(
    `  ${r.packages} dpkg packages, database changed     ${fmt(r.changedMs, 1).padStart(7)} ms wall ${fmt(r.changedCpuMs, 1).padStart(7)} ms CPU  (target <= 50 ms: ${met(r.changedMs)})`,
  );
  console.log(`  this host (${r.hostPackages} packages)           ${fmt(r.hostMs, 1).padStart(7)} ms`);
  console.log(
    `  child processes started while collecting: ${r.spawned} (target 0: ${r.spawned === 0 ? "met" : "MISSED"})`,
  );
  console.log(
    `  report with ${r.packages} packages:  ${kib(r.withItems.json)} JSON ${kib(r.withItems.gzip)} gzip`,
  );
  console.log(
    `  same report, hash only:   ${kib(r.hashOnly.json)} JSON ${kib(r.hashOnly.gzip)} gzip (${fmt(r.withItems.gzip / r.hashOnly.gzip)}x smaller on the wire)`,
  );
  console.log(
    `  a day at one report per 5 min: ${fmt((288 * r.withItems.json) / 1024 ** 2)} MiB with items every time, ${fmt((r.withItems.json + 287 * r.hashOnly.json) / 1024 ** 2)} MiB sent on change`,
  );
}

/** What each Linux collector costs per report, in a child process (wall time in-process, JSON size). */
async function collectorCosts(): Promise<void> {
  const run = await measure([BUN, import.meta.path, "child", "collectors"]);
  const costs = JSON.parse(run.stdout) as Record<string, { us: number; bytes: number }>;
  console.log(`\neach collector alone, warm, median of 21 (${processCount()} processes):`);
  for (const [area, cost] of Object.entries(costs)) {
    console.log(
      `  ${area.padEnd(16)} ${fmt(cost.us / 1000, 2).padStart(8)} ms ${fmt(cost.bytes / 1024).padStart(8)} KiB JSON`,
    );
  }
}

/**
 * The running agent between reports, on this machine and then with `extra` more processes (its own
 * children, reaped on the way out). `env` reaches the agent (BUN_OPTIONS=--smol to compare).
 */
async function runningPhase(
  binary: string | undefined,
  extra: number,
  seconds: number,
  env: Record<string, string>,
  loadedOnly = false,
) {
  const label = Object.keys(env).length
    ? ` (${Object.entries(env)
        .map(([k, value]) => `${k}=${value}`)
        .join(" ")})`
    : "";
  console.log(`\nrunning agent, RSS between reports (run --interval 5, ${seconds} s)${label}:`);
  if (!loadedOnly) {
    const fromSource = await runningAgentRss([BUN, CLI], seconds, env);
    console.log(rssRow(`from source, ${processCount()} processes`, fromSource));
  }
  if (!binary) return;
  if (!loadedOnly) {
    console.log(
      rssRow(`compiled, ${processCount()} processes`, await runningAgentRss([binary], seconds, env)),
    );
  }
  const killSleepers = await spawnSleepers(extra);
  try {
    const loaded = await runningAgentRss([binary], seconds, env);
    console.log(
      rssRow(
        `compiled, ${processCount()} processes`,
        loaded,
        ` (target <= 35 MB: ${loaded.median <= 35 ? "met" : "MISSED"})`,
      ),
    );
  } finally {
    await killSleepers();
  }
}

if (import.meta.main && process.argv[2] === "child") await child(process.argv[3] ?? "");
