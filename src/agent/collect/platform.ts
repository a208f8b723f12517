// Platform differences, in one place: which collector reads which source on which OS.
import type { Report } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { accountsLinux } from "./accounts.ts";
import { blockDevicesLinux } from "./block-devices.ts";
import { cpuLinux, cpuWindows, parseProcStat, windowsMachineTimes } from "./cpu.ts";
import { disksLinux, disksWindows } from "./disks.ts";
import { domainLinux, domainWindows } from "./domain.ts";
import { hostLinux, hostWindows } from "./host.ts";
import { memoryLinux, memoryWindows } from "./memory.ts";
import { network, networkLinux } from "./network.ts";
import { networkConfigLinux } from "./network-config.ts";
import { osLinux, osWindows } from "./os.ts";
import {
  processesLinux,
  processesWindows,
  readAuxv,
  sampleLinuxProcesses,
  sampleWindowsProcesses,
} from "./processes.ts";
import { servicesLinux, servicesWindows } from "./services.ts";
import { softwareLinux } from "./software.ts";
import { softwareWindows } from "./software-windows.ts";
import { systemLinux, systemWindows } from "./system.ts";
import { usersLinux, usersWindows } from "./users.ts";

export const AREAS = [
  "host",
  "os",
  "cpu",
  "memory",
  "users",
  "processes",
  "disks",
  "network",
  "system",
  "network_config",
  "block_devices",
  "accounts",
  "software",
  "services",
  "domain",
] as const;
export type Area = (typeof AREAS)[number];
export type Sections = { [A in Area]: Report[A] };
type Collectors = { [A in Area]: (ctx: Context) => Promise<Sections[A]> };

const LINUX: Collectors = {
  host: hostLinux,
  os: osLinux,
  cpu: cpuLinux,
  memory: memoryLinux,
  users: usersLinux,
  processes: processesLinux,
  disks: disksLinux,
  network: networkLinux,
  system: systemLinux,
  network_config: networkConfigLinux,
  block_devices: blockDevicesLinux,
  accounts: accountsLinux,
  software: softwareLinux,
  services: (ctx) => servicesLinux(ctx),
  domain: domainLinux,
};

const WINDOWS: Collectors = {
  host: hostWindows,
  os: osWindows,
  cpu: cpuWindows,
  memory: memoryWindows,
  users: usersWindows,
  processes: processesWindows,
  disks: disksWindows,
  network,
  system: systemWindows,
  // Not collected on Windows yet: the sections stay out of the report.
  network_config: async () => undefined,
  block_devices: async () => undefined,
  accounts: async () => undefined,
  software: softwareWindows,
  services: servicesWindows,
  domain: domainWindows,
};

/** Windows has its own; every other platform is read like Linux (what is missing there lands in errors). */
export function collectorsFor(platform: NodeJS.Platform): Collectors {
  return platform === "win32" ? WINDOWS : LINUX;
}

/** Takes the baseline CPU sample a one-shot collection measures against, into `ctx.next`. */
export function sampleFor(platform: NodeJS.Platform): (ctx: Context) => Promise<void> {
  if (platform === "win32") {
    return async (ctx) => {
      ctx.next.machine = windowsMachineTimes(ctx.os);
      // The machine's times need no PowerShell: a failed process sample still leaves a load baseline
      // (the processes collector then says its CPU shares are not measured).
      await sampleWindowsProcesses(ctx).catch(() => {});
    };
  }
  return async (ctx) => {
    const stat = parseProcStat(readText(ctx.root, "proc", "stat") ?? "");
    ctx.next.machine = { busy: stat.busy, total: stat.total };
    const sample = sampleLinuxProcesses(ctx.root, readAuxv(ctx.root).ticks, ctx.monotonic);
    ctx.next.processes = sample.processes;
    ctx.next.readAt = sample.readAt;
  };
}
