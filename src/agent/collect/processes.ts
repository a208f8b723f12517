// Processes. Linux reads /proc in-process: systeminformation.processes() spawns `ps` and then one `cat`
// per process, and a minimal image may have no `ps` at all. cpu_percent is the share of one CPU over the
// interval since the previous sample (percent of one core, as top shows it), from the change in
// utime + stime (Linux) or KernelModeTime + UserModeTime (Windows): a first value alone is CPU since start.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ProcessInfo, Report } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context, CpuSample } from "./_context.ts";
import { readText } from "./_files.ts";
import { bounded, clip, count, isoOrNull } from "./_limits.ts";
import { PartialSectionError } from "./_partial.ts";
import { asList, num, parsePowerShellJson, powerShellDate, str } from "./_powershell.ts";
import { parseProcStat } from "./cpu.ts";

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
  /** Identifies this process across samples even when its pid is reused. */
  key: string;
  /** CPU seconds used since it started. */
  cpu_seconds: number;
  /** Start time in epoch milliseconds, when known. */
  start_ms: number | undefined;
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
    const before = previous.processes.get(process.key);
    if (before === undefined) {
      // Started within the interval: all of its CPU time was spent in it.
      const startedInside = process.start_ms !== undefined && process.start_ms >= previousWallMs - 1000;
      return startedInside ? bounded((100 * process.cpu_seconds * 1000) / elapsedMs, 100 * 4096) : 0;
    }
    return bounded((100 * (process.cpu_seconds - before) * 1000) / elapsedMs, 100 * 4096);
  });
}

export function finishProcesses(ctx: Context, raw: RawProcess[], sampledAt: number): Processes {
  const previous = ctx.previous;
  const elapsed = previous ? sampledAt - previous.at : 0;
  const previousWall = ctx.now().getTime() - (ctx.monotonic() - (previous?.at ?? 0));
  const percents = cpuPercents(raw, previous, elapsed, previousWall);
  ctx.next.processes = new Map(raw.map((process) => [process.key, process.cpu_seconds]));
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
    }),
  );
  return { total: raw.length, list };
}

// ---- Linux ----

/** uid → name from /etc/passwd; unknown uids show as the number, like ps does. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split("\n")) {
    const [name, , uid] = line.split(":");
    if (name && uid && !users.has(Number(uid))) users.set(Number(uid), name);
  }
  return users;
}

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

export interface ProcStat {
  comm: string;
  ppid: number;
  /** utime + stime in clock ticks. */
  ticks: number;
  /** Clock ticks after boot. */
  starttime: number;
  /** Resident pages. */
  rss: number;
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
    ppid: field(4),
    ticks: field(14) + field(15),
    starttime: field(22),
    rss: field(24),
  };
}

/** Linux truncates the name in stat to 15 bytes; the command line's first word has the full one. */
function processName(comm: string, argv0: string | undefined): string {
  if (comm.length < 15 || !argv0) return comm;
  const base = argv0.slice(argv0.lastIndexOf("/") + 1);
  return base.startsWith(comm) ? base : comm;
}

export interface LinuxProcessOptions {
  root: string;
  commandLines: boolean;
  users: Map<number, string>;
  bootTimeS: number;
  pageSize: number;
  ticks: number;
}

/** Every process under /proc: stat for the numbers, the directory's owner for the user, cmdline if asked. */
export function readLinuxProcesses(options: LinuxProcessOptions): RawProcess[] {
  const proc = join(options.root, "proc");
  const processes: RawProcess[] = [];
  for (const entry of readdirSync(proc)) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    const dir = join(proc, entry);
    let stat: ProcStat | undefined;
    let uid: number;
    try {
      stat = parsePidStat(readFileSync(`${dir}/stat`, "latin1"));
      uid = statSync(dir).uid;
    } catch {
      continue; // exited while we looked
    }
    if (!stat) continue;
    let command = "";
    if (options.commandLines || stat.comm.length >= 15) {
      try {
        command = readFileSync(`${dir}/cmdline`, "utf8").replace(/\0+$/, "").replaceAll("\0", " ");
      } catch {
        // exited, or a kernel thread
      }
    }
    const startMs = (options.bootTimeS + stat.starttime / options.ticks) * 1000;
    const pid = Number(entry);
    processes.push({
      key: `${pid}:${stat.starttime}`,
      pid,
      ppid: count(stat.ppid),
      name: processName(stat.comm, command.split(" ")[0]),
      user: options.users.get(uid) ?? String(uid),
      memory_rss_bytes: count(stat.rss * options.pageSize),
      started_at: options.bootTimeS > 0 ? isoOrNull(new Date(startMs)) : null,
      start_ms: options.bootTimeS > 0 ? startMs : undefined,
      command,
      cpu_seconds: stat.ticks / options.ticks,
    });
  }
  return processes;
}

/** CPU seconds per process only (the one-shot baseline): just the stat files. */
export function sampleLinuxProcesses(root: string, ticks: number): Map<string, number> {
  const proc = join(root, "proc");
  const sample = new Map<string, number>();
  for (const entry of readdirSync(proc)) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    try {
      const stat = parsePidStat(readFileSync(`${join(proc, entry)}/stat`, "latin1"));
      if (stat) sample.set(`${entry}:${stat.starttime}`, stat.ticks / ticks);
    } catch {
      // exited
    }
  }
  return sample;
}

export function linuxProcessOptions(root: string, commandLines: boolean): LinuxProcessOptions {
  const { pageSize, ticks } = readAuxv(root);
  return {
    root,
    commandLines,
    users: parsePasswd(readText(root, "etc", "passwd") ?? ""),
    bootTimeS: parseProcStat(readText(root, "proc", "stat") ?? "").bootTime,
    pageSize,
    ticks,
  };
}

export async function processesLinux(ctx: Context): Promise<Processes> {
  const options = linuxProcessOptions(ctx.root, ctx.commandLines);
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

export interface WindowsProcessSample {
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

export interface WindowsProcessesResult extends Processes {
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
