// Processes. Linux reads /proc in-process: systeminformation.processes() spawns `ps` and then one `cat`
// per process, and a minimal image may have no `ps` at all. cpu_percent is the share of one CPU over the
// interval since the previous sample (percent of one core, as top shows it), from the change in
// utime + stime (Linux) or KernelModeTime + UserModeTime (Windows): a first value alone is CPU since start.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ProcessInfo, Report } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context, CpuSample } from "./_context.ts";
import { readSource } from "./_files.ts";
import { bounded, clip, count, isoOrNull } from "./_limits.ts";
import { userNames } from "./_nss.ts";
import { PartialSectionError } from "./_partial.ts";
import { asList, num, parsePowerShellJson, powerShellDate, str } from "./_powershell.ts";

type Processes = Report["processes"];

/** A process as read, before its CPU share is known. */
export interface RawProcess {
  pid: number;
  ppid: number;
  name: string;
  user: string;
  memory_rss_bytes: number;
  started_at: string | null;
  command: string;
  /** As the kernel names it: "running", "sleeping", "zombie"... (Linux; empty where unknown). */
  state?: string;
  /** Identifies this process across samples even when its pid is reused. */
  key: string;
  /** CPU seconds used since it started. */
  cpu_seconds: number;
  /** Start time in epoch milliseconds, when known. */
  start_ms: number | undefined;
  /** The owner's uid (Linux), until its name is known. */
  uid?: number;
  /** Monotonic milliseconds when its counters were read (Linux). */
  read_at?: number;
  /** The most it can use: 100 per thread, up to the machine's CPUs (Linux); measuring noise is cut there. */
  max_percent?: number;
}

/** Percent of one CPU each process used since `previous`; one that started since then counts from its start. */
export function cpuPercents(
  processes: readonly RawProcess[],
  previous: CpuSample | undefined,
  elapsedMs: number,
  previousWallMs: number,
): number[] {
  return processes.map((process) => {
    if (!previous?.processes || elapsedMs <= 0) return 0;
    const max = process.max_percent ?? 100 * 4096;
    const before = previous.processes.get(process.key);
    if (before === undefined) {
      // Started within the interval: all of its CPU time was spent in it.
      const startedInside = process.start_ms !== undefined && process.start_ms >= previousWallMs - 1000;
      return startedInside ? bounded((100 * process.cpu_seconds * 1000) / elapsedMs, max) : 0;
    }
    // Its own window when both readings were timed, else the collection's.
    const readBefore = previous.readAt?.get(process.key);
    const own = process.read_at !== undefined && readBefore !== undefined ? process.read_at - readBefore : 0;
    return bounded((100 * (process.cpu_seconds - before) * 1000) / (own > 0 ? own : elapsedMs), max);
  });
}

function finishProcesses(ctx: Context, raw: RawProcess[], sampledAt: number): Processes {
  const previous = ctx.previous;
  const elapsed = previous ? sampledAt - previous.at : 0;
  const previousWall = ctx.now().getTime() - (ctx.monotonic() - (previous?.at ?? 0));
  const percents = cpuPercents(raw, previous, elapsed, previousWall);
  ctx.next.processes = new Map(raw.map((process) => [process.key, process.cpu_seconds]));
  ctx.next.readAt =
    raw[0]?.read_at === undefined ? undefined : new Map(raw.map((p) => [p.key, p.read_at ?? 0]));
  ctx.next.at = sampledAt;
  const list = raw.slice(0, LIMITS.processes).map(
    (process, index): ProcessInfo => ({
      pid: process.pid,
      ppid: process.ppid,
      name: clip(process.name),
      user: clip(process.user),
      cpu_percent: Math.round((percents[index] ?? 0) * 100) / 100,
      memory_rss_bytes: process.memory_rss_bytes,
      started_at: process.started_at,
      command: clip(ctx.commandLines ? process.command : "", LIMITS.command),
      ...(process.state ? { state: process.state } : {}),
    }),
  );
  return { total: raw.length, list };
}

// ---- Linux ----

/** AT_PAGESZ and AT_CLKTCK from the auxiliary vector the kernel gave this process (64-bit words). */
export function readAuxv(root: string): { pageSize: number; ticks: number } {
  const result = { pageSize: 4096, ticks: 100 };
  try {
    const bytes = readFileSync(join(root, "proc", "self", "auxv"));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let offset = 0; offset + 16 <= bytes.byteLength; offset += 16) {
      const type = Number(view.getBigUint64(offset, true));
      const value = Number(view.getBigUint64(offset + 8, true));
      if (type === 6 && value > 0) result.pageSize = value;
      if (type === 17 && value > 0) result.ticks = value;
      if (type === 0) break;
    }
  } catch {
    // A kernel without /proc/self/auxv: the defaults hold on every Linux this agent runs on.
  }
  return result;
}

/** The kernel's names for the state letters (fs/proc/array.c), as /proc/PID/status spells them. */
const STATES: Record<string, string> = {
  R: "running",
  S: "sleeping",
  D: "disk sleep",
  T: "stopped",
  t: "tracing stop",
  X: "dead",
  Z: "zombie",
  P: "parked",
  I: "idle",
};

interface ProcStat {
  comm: string;
  /** One letter: R, S, D, Z, T, t, X, I, P. */
  state: string;
  ppid: number;
  /** utime + stime in clock ticks. */
  ticks: number;
  /** Clock ticks after boot. */
  starttime: number;
  /** Resident pages. */
  rss: number;
  threads: number;
}

/** Parses /proc/PID/stat; the name sits in parentheses and may itself hold spaces and parentheses. */
export function parsePidStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  // Fields after the name, numbered as in proc(5) from 3 (state): field n is rest[n - 3].
  const rest = text.slice(close + 2).split(" ");
  const field = (n: number) => Number(rest[n - 3]);
  return {
    comm: text.slice(open + 1, close),
    state: rest[0] ?? "",
    ppid: field(4),
    ticks: field(14) + field(15),
    starttime: field(22),
    rss: field(24),
    threads: field(20),
  };
}

/**
 * Linux truncates the name in stat to 15 bytes; argv[0] has the full one (taken whole, before the command
 * line is joined with spaces: "/opt/My App/bin/long-name" is one word).
 */
function processName(comm: string, argv0: string | undefined): string {
  if (comm.length < 15 || !argv0) return comm;
  const base = argv0.slice(argv0.lastIndexOf("/") + 1);
  return base.startsWith(comm) ? base : comm;
}

interface LinuxProcessOptions {
  root: string;
  commandLines: boolean;
  /** uid → name from the file sources; `library` names the rest (NSS modules), once per uid. */
  users: Map<number, string>;
  library?: (uids: number[]) => Map<number, string>;
  /** Boot time in epoch milliseconds (now - /proc/uptime, to the hundredth), NaN when unknown. */
  bootMs: number;
  pageSize: number;
  ticks: number;
  /** Monotonic milliseconds (each process's read time); performance.now() by default. */
  monotonic?: () => number;
  /** CPUs the machine has: no process uses more. */
  cpus?: number;
}

/**
 * Every process under /proc: stat for the numbers, statm for the resident set (stat's rss field lags the
 * per-CPU counters by 100-330 KiB; statm is what ps and top show), the directory's owner for the user,
 * cmdline if asked.
 */
export function readLinuxProcesses(options: LinuxProcessOptions): RawProcess[] {
  const proc = join(options.root, "proc");
  const processes: RawProcess[] = [];
  const booted = Number.isFinite(options.bootMs);
  const monotonic = options.monotonic ?? (() => performance.now());
  const cpus = options.cpus ?? (navigator.hardwareConcurrency || 4096);
  for (const entry of readdirSync(proc)) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    const dir = join(proc, entry);
    let stat: ProcStat | undefined;
    let uid: number;
    let readAt: number;
    try {
      stat = parsePidStat(readFileSync(`${dir}/stat`, "latin1"));
      readAt = monotonic();
      uid = statSync(dir).uid;
    } catch {
      continue; // exited while we looked
    }
    if (!stat) continue;
    let resident = stat.rss;
    try {
      const pages = Number(readFileSync(`${dir}/statm`, "latin1").split(" ")[1]);
      if (Number.isFinite(pages)) resident = pages;
    } catch {
      // exited: stat's figure is the last one there is
    }
    let argv: string[] = [];
    if (options.commandLines || stat.comm.length >= 15) {
      try {
        argv = readFileSync(`${dir}/cmdline`, "utf8").replace(/\0+$/, "").split("\0");
      } catch {
        // exited, or a kernel thread
      }
    }
    const command = argv.join(" ");
    const startMs = options.bootMs + (stat.starttime / options.ticks) * 1000;
    const pid = Number(entry);
    processes.push({
      key: `${pid}:${stat.starttime}`,
      pid,
      ppid: count(stat.ppid),
      name: processName(stat.comm, argv[0]),
      user: options.users.get(uid) ?? "",
      uid,
      memory_rss_bytes: count(resident * options.pageSize),
      started_at: booted ? isoOrNull(new Date(Math.round(startMs))) : null,
      start_ms: booted ? startMs : undefined,
      command,
      cpu_seconds: stat.ticks / options.ticks,
      read_at: readAt,
      max_percent: 100 * Math.max(1, Math.min(stat.threads || 1, cpus)),
      state: STATES[stat.state] ?? stat.state,
    });
  }
  nameOwners(processes, options);
  return processes;
}

/** Owners the files did not name: through the C library when there is another source, else the number. */
function nameOwners(processes: RawProcess[], options: LinuxProcessOptions): void {
  const unnamed = processes.filter((process) => process.user === "");
  if (unnamed.length === 0) return;
  const uids = [...new Set(unnamed.map((process) => process.uid ?? 0))];
  const names = options.library?.(uids) ?? new Map<number, string>();
  for (const process of unnamed) process.user = names.get(process.uid ?? 0) ?? String(process.uid);
}

/** CPU seconds per process only (the one-shot baseline): just the stat files, each timed as it is read. */
export function sampleLinuxProcesses(
  root: string,
  ticks: number,
  monotonic: () => number = () => performance.now(),
): { processes: Map<string, number>; readAt: Map<string, number> } {
  const proc = join(root, "proc");
  const processes = new Map<string, number>();
  const readAt = new Map<string, number>();
  for (const entry of readdirSync(proc)) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    try {
      const stat = parsePidStat(readFileSync(`${join(proc, entry)}/stat`, "latin1"));
      if (!stat) continue;
      const key = `${entry}:${stat.starttime}`;
      processes.set(key, stat.ticks / ticks);
      readAt.set(key, monotonic());
    } catch {
      // exited
    }
  }
  return { processes, readAt };
}

/** What the edges pass in; a bare call (the benchmark) reads the real clock and drops what it cannot read. */
interface LinuxProcessSources {
  now?: () => Date;
  partial?: (message: string) => void;
}

/**
 * Boot time from /proc/uptime (CLOCK_BOOTTIME, the clock starttime counts on, to the hundredth of a
 * second), not /proc/stat's btime, which is cut to whole seconds.
 */
function bootTimeMs(uptimeText: string | undefined, now: Date): number {
  const uptime = Number((uptimeText ?? "").split(" ")[0]);
  return uptimeText !== undefined && Number.isFinite(uptime) && uptime > 0
    ? now.getTime() - uptime * 1000
    : Number.NaN;
}

export function linuxProcessOptions(
  root: string,
  commandLines: boolean,
  { now = () => new Date(), partial = () => {} }: LinuxProcessSources = {},
): LinuxProcessOptions {
  const { pageSize, ticks } = readAuxv(root);
  const ctx = { root, partial };
  const bootMs = bootTimeMs(readSource(ctx, ["proc", "uptime"]), now());
  if (Number.isNaN(bootMs)) partial("boot time unknown: every started_at is null");
  const { files, library } = userNames(ctx);
  return {
    root,
    commandLines,
    users: files,
    library,
    bootMs,
    pageSize,
    ticks,
  };
}

export async function processesLinux(ctx: Context): Promise<Processes> {
  const options = { ...linuxProcessOptions(ctx.root, ctx.commandLines, ctx), monotonic: ctx.monotonic };
  const sampledAt = ctx.monotonic();
  return finishProcesses(ctx, readLinuxProcesses(options), sampledAt);
}

// ---- Windows ----

/**
 * Names of well-known accounts by SID: Windows prints them in the display language ("NT-AUTORITÄT\SYSTEM"
 * on a German server), the report always in English.
 */
const WELL_KNOWN_SIDS: Record<string, string> = {
  "S-1-5-18": "NT AUTHORITY\\SYSTEM",
  "S-1-5-19": "NT AUTHORITY\\LOCAL SERVICE",
  "S-1-5-20": "NT AUTHORITY\\NETWORK SERVICE",
};

/**
 * One command for the whole list. Win32_Process has the parent, command line, working set, start time and
 * the cumulative kernel and user time (100 ns units) but no owner. For the owner:
 * - `Invoke-CimMethod GetOwner` is one WMI method call per process: ~10-30 ms each, seconds for a server's
 *   few hundred processes, on every report.
 * - `Get-Process -IncludeUserName` reads every token in one cmdlet call (tens of ms in all). It needs
 *   elevation, which the agent has: it runs as SYSTEM (the Scheduled Task) or from an admin prompt.
 *   Without it, owners stay empty and `owner_error` says why.
 * Each distinct owner name is translated to its SID once (`s`), so well-known accounts get English names.
 * `at` is when Win32_Process was read, in milliseconds of the system-wide monotonic clock
 * (Stopwatch/QueryPerformanceCounter), the midpoint of the query: the CPU window is timed from there, not
 * from when the agent asked (PowerShell may have been busy with other commands in between).
 * Get-Process alone is not enough: Windows PowerShell 5.1, the one every server has, gives neither the
 * parent nor the command line. -Depth 3 covers {e, at, s: {}, l: [{...}]} (5.1's default of 2 would not).
 */
const PROCESS_SAMPLE =
  "$t0 = [Diagnostics.Stopwatch]::GetTimestamp(); $cim = @(Get-CimInstance Win32_Process -Property ProcessId,ParentProcessId,Name,CommandLine,WorkingSetSize,CreationDate,KernelModeTime,UserModeTime); $t1 = [Diagnostics.Stopwatch]::GetTimestamp()";
const PROCESS_AT = "[math]::Round(($t0 + $t1) / 2 * 1000 / [Diagnostics.Stopwatch]::Frequency, 3)";
const START = "$(if ($p.CreationDate) { $p.CreationDate.ToUniversalTime().ToString('o') } else { $null })";

export const WINDOWS_PROCESSES_COMMAND = [
  "$owners = @{}; $ownerError = $null; $sids = @{}",
  "try { foreach ($p in Get-Process -IncludeUserName -ErrorAction Stop) { $owners[[int]$p.Id] = $p.UserName } } catch { $ownerError = $_.Exception.Message }",
  "foreach ($n in @($owners.Values | Where-Object { $_ } | Sort-Object -Unique)) { try { $sids[$n] = ([Security.Principal.NTAccount]$n).Translate([Security.Principal.SecurityIdentifier]).Value } catch { } }",
  PROCESS_SAMPLE,
  `$l = foreach ($p in $cim) { [pscustomobject]@{ p = $p.ProcessId; pp = $p.ParentProcessId; n = $p.Name; u = $owners[[int]$p.ProcessId]; ws = $p.WorkingSetSize; t = ${START}; k = $p.KernelModeTime; um = $p.UserModeTime; c = $p.CommandLine } }`,
  `ConvertTo-Json -Compress -Depth 3 -InputObject ([pscustomobject]@{ e = $ownerError; at = ${PROCESS_AT}; s = [pscustomobject]$sids; l = @($l) })`,
].join("; ");

/** The CPU times alone, for the one-shot baseline; printed in the same shape as the full list. */
export const WINDOWS_PROCESS_TIMES_COMMAND = [
  PROCESS_SAMPLE,
  `$l = foreach ($p in $cim) { [pscustomobject]@{ p = $p.ProcessId; t = ${START}; k = $p.KernelModeTime; um = $p.UserModeTime } }`,
  `ConvertTo-Json -Compress -Depth 3 -InputObject ([pscustomobject]@{ e = $null; at = ${PROCESS_AT}; l = @($l) })`,
].join("; ");

interface WindowsProcessSample {
  processes: RawProcess[];
  ownerError: string;
  /** Monotonic ms inside PowerShell when Win32_Process was read; undefined from an older recording. */
  at: number | undefined;
}

export function parseWindowsProcesses(text: string): WindowsProcessSample {
  const parsed = parsePowerShellJson(text);
  const root = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (!Array.isArray(root.l) && typeof root.l !== "object")
    throw new Error("PowerShell printed no process list");
  // Windows PowerShell 5.1 turns objects below its JSON depth into strings ("@{p=4; pp=0; ...}").
  if (Array.isArray(root.l) && root.l.some((item) => typeof item === "string"))
    throw new Error("the process list was cut at ConvertTo-Json's depth limit");
  const sids = (typeof root.s === "object" && root.s !== null ? root.s : {}) as Record<string, unknown>;
  const processes = asList(root.l)
    // The System Idle Process (pid 0) is the idle time of every CPU, not a process using one.
    .filter((item) => num(item.p) !== 0)
    .map((item): RawProcess => {
      const pid = count(num(item.p));
      const startMs = powerShellDate(item.t);
      const owner = str(item.u);
      return {
        key: `${pid}:${Number.isFinite(startMs) ? startMs : ""}`,
        pid,
        ppid: count(num(item.pp)),
        name: str(item.n),
        user: WELL_KNOWN_SIDS[str(sids[owner])] ?? owner,
        memory_rss_bytes: count(num(item.ws)),
        started_at: Number.isFinite(startMs) ? isoOrNull(new Date(startMs)) : null,
        start_ms: Number.isFinite(startMs) ? startMs : undefined,
        command: str(item.c).replace(/[\r\n\t]+/g, " "),
        // 100 ns units
        cpu_seconds: (num(item.k) + num(item.um)) / 1e7,
      };
    });
  const at = typeof root.at === "number" && Number.isFinite(root.at) ? root.at : undefined;
  return { processes, ownerError: str(root.e), at };
}

interface WindowsProcessesResult extends Processes {
  /** Extra field: why owners are missing (the agent is not elevated), so the admin can act. */
  owner_error?: string;
}

/** CPU % over the window between the two moments PowerShell read Win32_Process. */
export async function processesWindows(ctx: Context): Promise<WindowsProcessesResult> {
  const askedAt = ctx.monotonic();
  const sample = parseWindowsProcesses(await ctx.powerShell(WINDOWS_PROCESSES_COMMAND));
  const previous = ctx.previous;
  const before = previous?.windowsAt;
  // Without PowerShell's own times (an older recording) the agent's clock is the fallback.
  const elapsed =
    sample.at !== undefined && before !== undefined
      ? sample.at - before
      : previous
        ? askedAt - previous.at
        : 0;
  const previousWall = ctx.now().getTime() - (ctx.monotonic() - (previous?.at ?? 0));
  const percents = cpuPercents(sample.processes, previous, elapsed, previousWall);
  ctx.next.processes = new Map(sample.processes.map((process) => [process.key, process.cpu_seconds]));
  ctx.next.at = askedAt;
  if (sample.at !== undefined) ctx.next.windowsAt = sample.at;
  const list = sample.processes.slice(0, LIMITS.processes).map(
    (process, index): ProcessInfo => ({
      pid: process.pid,
      ppid: process.ppid,
      name: clip(process.name),
      user: clip(process.user),
      cpu_percent: Math.round((percents[index] ?? 0) * 100) / 100,
      memory_rss_bytes: process.memory_rss_bytes,
      started_at: process.started_at,
      command: clip(ctx.commandLines ? process.command : "", LIMITS.command),
    }),
  );
  const result: WindowsProcessesResult = { total: sample.processes.length, list };
  if (sample.ownerError) result.owner_error = clip(sample.ownerError, LIMITS.text);
  if (!previous?.processes)
    throw new PartialSectionError(result, "cpu_percent not measured: no earlier process sample");
  return result;
}

export async function sampleWindowsProcesses(ctx: Context): Promise<void> {
  const sample = parseWindowsProcesses(await ctx.powerShell(WINDOWS_PROCESS_TIMES_COMMAND));
  ctx.next.processes = new Map(sample.processes.map((process) => [process.key, process.cpu_seconds]));
  if (sample.at !== undefined) ctx.next.windowsAt = sample.at;
}
