// CPU: model, cores, and load. Load is real load over an interval: the change in /proc/stat's busy and
// total jiffies since the previous sample (a long-running agent's previous report, or the one-shot's
// short baseline), never the average since boot.
import type { CpuInfo } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { parseColonValues, readSource, readText } from "./_files.ts";
import { bounded, clip, count } from "./_limits.ts";
import { orPartial, PartialSectionError } from "./_partial.ts";
import { asList, num, parsePowerShellJson, str } from "./_powershell.ts";

const VENDORS: Record<string, string> = {
  GenuineIntel: "Intel",
  AuthenticAMD: "AMD",
  HygonGenuine: "Hygon",
  CentaurHauls: "Centaur",
};
/** ARM implementer codes from /proc/cpuinfo ("CPU implementer : 0x41"). */
const ARM_IMPLEMENTERS: Record<string, string> = {
  "0x41": "ARM",
  "0x42": "Broadcom",
  "0x43": "Cavium",
  "0x46": "Fujitsu",
  "0x48": "HiSilicon",
  "0x4e": "NVIDIA",
  "0x50": "Ampere",
  "0x51": "Qualcomm",
  "0x61": "Apple",
  "0xc0": "Ampere",
};

interface CpuModel {
  manufacturer: string;
  model: string;
  speed_ghz: number;
  cores: number;
  physical_cores: number;
}

export function parseCpuinfo(text: string): CpuModel {
  const blocks = text
    .split(/\n\s*\n/)
    .map(parseColonValues)
    .filter((block) => block.has("processor"));
  const first = blocks[0] ?? new Map<string, string>();
  const vendor = first.get("vendor_id") ?? "";
  const implementer = (first.get("CPU implementer") ?? "").toLowerCase();
  const cores = new Set<string>();
  for (const block of blocks) {
    const core = block.get("core id");
    if (core !== undefined) cores.add(`${block.get("physical id") ?? "0"}:${core}`);
  }
  const mhz = Number(first.get("cpu MHz"));
  return {
    manufacturer: VENDORS[vendor] ?? (vendor || ARM_IMPLEMENTERS[implementer] || ""),
    model: (first.get("model name") ?? first.get("Model") ?? first.get("cpu model") ?? "").replace(
      /\s+/g,
      " ",
    ),
    speed_ghz: Number.isFinite(mhz) ? Math.round(mhz) / 1000 : 0,
    cores: blocks.length,
    physical_cores: cores.size || blocks.length,
  };
}

/** Busy and total jiffies from the first line of /proc/stat ("cpu  user nice system idle iowait ..."). */
export function parseProcStat(text: string): { busy: number; total: number; bootTime: number } {
  const line = text.split("\n").find((l) => l.startsWith("cpu ")) ?? "";
  // user nice system idle iowait irq softirq steal (guest time is already counted in user and nice)
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, value) => sum + (Number.isFinite(value) ? value : 0), 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const btime = /^btime\s+(\d+)/m.exec(text)?.[1];
  return { busy: total - idle, total, bootTime: Number(btime ?? 0) };
}

/** Busy share between two readings; null without an earlier one (nothing to measure against). */
export function loadPercent(
  previous: { busy: number; total: number } | undefined,
  next: { busy: number; total: number },
): number | null {
  if (!previous) return null;
  const total = next.total - previous.total;
  return total > 0 ? bounded((100 * (next.busy - previous.busy)) / total, 100) : 0;
}

/**
 * The collector waits for the sampling window before reading the counters. What cannot be read stays empty
 * (a model of "", load null) and is named in `errors`, rather than filled from a guess.
 */
export async function cpuLinux(ctx: Context): Promise<CpuInfo> {
  const cpuinfo = readSource(ctx, ["proc", "cpuinfo"]);
  const model = cpuinfo === undefined ? undefined : parseCpuinfo(cpuinfo);
  const statText = readSource(ctx, ["proc", "stat"]);
  const stat = statText === undefined ? undefined : parseProcStat(statText);
  if (stat) ctx.next.machine = { busy: stat.busy, total: stat.total };
  const loadavg = (readText(ctx.root, "proc", "loadavg") ?? "").split(" ").slice(0, 3).map(Number);
  // node:os reads /proc/cpuinfo too and says "unknown" when it cannot: that is no model name.
  const runtime = ctx.os.cpus();
  const runtimeModel = cpuinfo === undefined || runtime[0]?.model === "unknown" ? "" : runtime[0]?.model;
  const cores = model?.cores || runtime.length;
  return {
    manufacturer: clip(model?.manufacturer ?? ""),
    model: clip(model?.model || runtimeModel || ""),
    speed_ghz: bounded(model?.speed_ghz || (runtime[0]?.speed ?? 0) / 1000, 1000),
    cores: count(cores),
    physical_cores: count(model ? model.physical_cores || cores : 0),
    load_percent: stat ? loadPercent(ctx.previous?.machine, stat) : null,
    load_avg:
      loadavg.length === 3
        ? loadavg.map((n) => bounded(n, 1e6))
        : ctx.os.loadavg().map((n) => bounded(n, 1e6)),
  };
}

/**
 * Busy and total CPU time of the whole machine from the runtime: on Windows node:os reads every processor's
 * kernel, user, idle and interrupt time (NtQuerySystemInformation), so load over an interval needs no
 * PowerShell, and is real load, unlike Win32_Processor.LoadPercentage (a one-second snapshot, null on some
 * virtual machines).
 */
export function windowsMachineTimes(os: Context["os"]): { busy: number; total: number } | undefined {
  let busy = 0;
  let idle = 0;
  for (const cpu of os.cpus()) {
    busy += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
    idle += cpu.times.idle;
  }
  return busy + idle > 0 ? { busy, total: busy + idle } : undefined;
}

/** One object per socket: the maker, the name Windows gives the model, and the physical cores. */
export const WINDOWS_CPU_COMMAND =
  "ConvertTo-Json -Compress -InputObject @(Get-CimInstance Win32_Processor | Select-Object " +
  "Manufacturer,Name,MaxClockSpeed,NumberOfCores,NumberOfLogicalProcessors)";

export function parseWindowsCpu(text: string): CpuModel {
  const sockets = asList(parsePowerShellJson(text));
  const first = sockets[0] ?? {};
  const vendor = str(first.Manufacturer);
  return {
    manufacturer: VENDORS[vendor] ?? vendor,
    model: str(first.Name).replace(/\s+/g, " "),
    speed_ghz: num(first.MaxClockSpeed) / 1000,
    cores: sockets.reduce((sum, socket) => sum + num(socket.NumberOfLogicalProcessors), 0),
    physical_cores: sockets.reduce((sum, socket) => sum + num(socket.NumberOfCores), 0),
  };
}

/**
 * Logical cores, model, speed and load come from the runtime; maker and physical cores need PowerShell.
 * Load is the change in busy time since the previous sample; with no earlier sample it is not known, and
 * `errors` says so rather than reporting an idle machine.
 */
export async function cpuWindows(ctx: Context): Promise<CpuInfo> {
  const cpus = ctx.os.cpus();
  const machine = windowsMachineTimes(ctx.os);
  if (machine) ctx.next.machine = machine;
  const known = machine !== undefined && ctx.previous?.machine !== undefined;
  const runtime: CpuInfo = {
    manufacturer: "",
    model: clip((cpus[0]?.model ?? "").replace(/\s+/g, " ").trim()),
    speed_ghz: bounded((cpus[0]?.speed ?? 0) / 1000, 1000),
    cores: count(cpus.length),
    physical_cores: 0,
    load_percent: machine ? loadPercent(ctx.previous?.machine, machine) : 0,
    // Windows has no load average; the schema's list may be empty.
    load_avg: [],
  };
  const missing = ["manufacturer", "physical_cores"];
  const text = await orPartial(runtime, missing, () => ctx.powerShell(WINDOWS_CPU_COMMAND));
  const cpu = await orPartial(runtime, missing, async () => parseWindowsCpu(text));
  const cores = runtime.cores || cpu.cores;
  const section: CpuInfo = {
    ...runtime,
    manufacturer: clip(cpu.manufacturer),
    model: clip(cpu.model) || runtime.model,
    speed_ghz: bounded(cpu.speed_ghz, 1000) || runtime.speed_ghz,
    cores: count(cores),
    physical_cores: count(cpu.physical_cores || cores),
  };
  if (!known) throw new PartialSectionError(section, "load_percent not measured: no earlier CPU sample");
  return section;
}
