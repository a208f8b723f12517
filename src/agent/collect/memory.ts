// Memory: total, available (what programs can still get without swapping), swap.
import type { MemoryInfo } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { parseColonValues, readText } from "./_files.ts";
import { count } from "./_limits.ts";
import { orPartial } from "./_partial.ts";
import { asList, num, parsePowerShellJson } from "./_powershell.ts";

export function parseMeminfo(text: string): MemoryInfo {
  const values = parseColonValues(text);
  const kib = (key: string) => Number.parseInt(values.get(key) ?? "", 10) * 1024;
  const total = kib("MemTotal");
  // MemAvailable exists since Linux 3.14; before it, free + buffers + cache is the usual estimate.
  const available = values.has("MemAvailable")
    ? kib("MemAvailable")
    : kib("MemFree") + kib("Buffers") + kib("Cached");
  const swapTotal = kib("SwapTotal");
  return {
    total_bytes: count(total),
    available_bytes: count(available),
    swap_total_bytes: count(swapTotal),
    swap_used_bytes: count(swapTotal - kib("SwapFree")),
  };
}

export async function memoryLinux(ctx: Context): Promise<MemoryInfo> {
  const text = readText(ctx.root, "proc", "meminfo");
  if (!text) throw new Error("/proc/meminfo is not readable");
  return parseMeminfo(text);
}

/** Page files in MB: AllocatedBaseSize is the size, CurrentUsage what is in use. */
export const WINDOWS_SWAP_COMMAND =
  "ConvertTo-Json -Compress -InputObject @(Get-CimInstance Win32_PageFileUsage | Select-Object Name,AllocatedBaseSize,CurrentUsage)";

export function parseWindowsSwap(text: string): { total: number; used: number } {
  const files = asList(parsePowerShellJson(text));
  const mb = 1024 * 1024;
  return {
    total: files.reduce((sum, file) => sum + num(file.AllocatedBaseSize) * mb, 0),
    used: files.reduce((sum, file) => sum + num(file.CurrentUsage) * mb, 0),
  };
}

/** Physical memory from node:os (GlobalMemoryStatusEx: freemem is the available physical memory). */
export async function memoryWindows(ctx: Context): Promise<MemoryInfo> {
  const runtime: MemoryInfo = {
    total_bytes: count(ctx.os.totalmem()),
    available_bytes: count(ctx.os.freemem()),
    swap_total_bytes: 0,
    swap_used_bytes: 0,
  };
  const missing = ["swap_total_bytes", "swap_used_bytes"];
  const text = await orPartial(runtime, missing, () => ctx.powerShell(WINDOWS_SWAP_COMMAND));
  const swap = await orPartial(runtime, missing, async () => parseWindowsSwap(text));
  return { ...runtime, swap_total_bytes: count(swap.total), swap_used_bytes: count(swap.used) };
}
