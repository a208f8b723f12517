// The one place that picks the platform: which plan, which paths, which privilege check. Everything it
// needs from the machine (platform, environment, the running executable) comes in as arguments.
import { existsSync } from "node:fs";
import { posix, win32 } from "node:path";
import type { Plan, ServicePlatform } from "./plan.ts";
import type { ServiceSpec } from "./spec.ts";
import { linuxInstallPlan, linuxUninstallPlan } from "./systemd.ts";
import { windowsInstallPlan, windowsRoots, windowsUninstallPlan } from "./windows.ts";

export interface Host {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  /** The executable to install (the running one). */
  execPath: string;
  /** Where relative paths in flags (a CA, a TLS key) are resolved from. */
  cwd: string;
  version: string;
}

/** Resolves a path given in a flag the way the target platform reads it. */
export function resolveOn(host: Pick<Host, "platform" | "cwd">, path: string): string {
  return (host.platform === "win32" ? win32 : posix).resolve(host.cwd, path);
}

export function servicePlatform(platform: NodeJS.Platform): ServicePlatform {
  if (platform === "linux") return "linux";
  if (platform === "win32") return "windows";
  throw new Error(`Installing as a service is supported on Linux (systemd) and Windows, not on ${platform}`);
}

export function planInstall(spec: ServiceSpec, host: Host): Plan {
  return servicePlatform(host.platform) === "linux"
    ? linuxInstallPlan(spec, host.execPath, host.version)
    : windowsInstallPlan(spec, windowsRoots(host.env), host.execPath, host.version);
}

export function planUninstall(spec: ServiceSpec, host: Host, purge: boolean): Plan {
  return servicePlatform(host.platform) === "linux"
    ? linuxUninstallPlan(spec, purge)
    : windowsUninstallPlan(spec, windowsRoots(host.env), purge);
}

/** What to tell someone who is not root / not an elevated Administrator. */
export function needPrivilegeMessage(name: string, action: string, platform: ServicePlatform): string {
  return platform === "linux"
    ? `${name} ${action} must run as root: sudo ${name} ${action} ... (or add --print to see what it would do)`
    : `${name} ${action} must run as Administrator: open PowerShell with "Run as administrator" ` +
        `(or add --print to see what it would do)`;
}

/** Root on Linux; on Windows an elevated token (High or System integrity level, by SID so any language works). */
export function isPrivileged(platform: ServicePlatform): boolean {
  if (platform === "linux") return process.getuid?.() === 0;
  const whoami = Bun.spawnSync(["whoami", "/groups", "/fo", "csv", "/nh"], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const groups = whoami.stdout.toString();
  return whoami.exitCode === 0 && (groups.includes("S-1-16-12288") || groups.includes("S-1-16-16384"));
}

/** Why services cannot be installed here, if they cannot: systemd must be the running init on Linux. */
export function serviceManagerMissing(platform: ServicePlatform): string | undefined {
  if (platform === "linux" && !existsSync("/run/systemd/system")) {
    return "systemd is not running on this machine (no /run/systemd/system): install needs it to start the service";
  }
  return undefined;
}

/** True inside an executable made by `bun build --compile` (its entry lives in Bun's embedded file system). */
export function isCompiled(main: string = Bun.main): boolean {
  return /^(\/\$bunfs\/|[A-Za-z]:[\\/]~BUN[\\/])/.test(main);
}
