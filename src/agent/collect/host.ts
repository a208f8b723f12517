// Host: name, fully qualified name and the addresses other machines can reach it on.
import type { Report } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { clip } from "./_limits.ts";
import { asRecord, parsePowerShellJson, str } from "./_powershell.ts";
import { isLinkLocal } from "./network.ts";

type Host = Report["host"];

/** Addresses other machines can reach: not loopback, not link-local; IPv4 first, without zone ids. */
export function hostAddresses(ctx: Context): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const addresses of Object.values(ctx.os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      const ip = address.address.split("%")[0] ?? address.address;
      if (address.internal || isLinkLocal(ip)) continue;
      (address.family === "IPv4" ? v4 : v6).push(ip);
    }
  }
  return [...new Set([...v4, ...v6])].slice(0, LIMITS.addresses).map((ip) => clip(ip, 64));
}

/**
 * The FQDN as `hostname -f` would find it without spawning it: a dotted name for this host in /etc/hosts,
 * else the hostname when it is already dotted, else the hostname.
 */
export function fqdnFromHosts(hostname: string, hostsFile: string | undefined): string {
  if (hostname.includes(".")) return hostname;
  for (const line of (hostsFile ?? "").split("\n")) {
    const names = (line.split("#")[0] ?? "").trim().split(/\s+/).slice(1);
    if (!names.some((name) => name === hostname || name.startsWith(`${hostname}.`))) continue;
    const dotted = names.find((name) => name.startsWith(`${hostname}.`));
    if (dotted) return dotted;
  }
  return hostname;
}

export async function hostLinux(ctx: Context): Promise<Host> {
  const hostname = ctx.os.hostname();
  return {
    hostname: clip(hostname),
    fqdn: clip(fqdnFromHosts(hostname, readText(ctx.root, "etc", "hosts"))),
    ips: hostAddresses(ctx),
  };
}

/** Prints the DNS name and domain of the computer; `PartOfDomain` is false in a workgroup. */
export const WINDOWS_HOST_COMMAND =
  "Get-CimInstance Win32_ComputerSystem | Select-Object DNSHostName,Domain,PartOfDomain | ConvertTo-Json -Compress";

export function parseWindowsHost(text: string, fallbackName: string): { hostname: string; fqdn: string } {
  const record = asRecord(parsePowerShellJson(text));
  const hostname = str(record.DNSHostName) || fallbackName;
  const domain = str(record.Domain);
  const fqdn = record.PartOfDomain === true && domain ? `${hostname}.${domain}` : hostname;
  return { hostname, fqdn };
}

export async function hostWindows(ctx: Context): Promise<Host> {
  const { hostname, fqdn } = parseWindowsHost(await ctx.powerShell(WINDOWS_HOST_COMMAND), ctx.os.hostname());
  return { hostname: clip(hostname), fqdn: clip(fqdn), ips: hostAddresses(ctx) };
}
