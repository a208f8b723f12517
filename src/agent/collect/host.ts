// Host: name, fully qualified name and the addresses other machines can reach it on.
import type { Report } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { clip } from "./_limits.ts";
import { orPartial } from "./_partial.ts";
import { asRecord, parsePowerShellJson, str } from "./_powershell.ts";

type Host = Report["host"];

/** Non-loopback addresses of every interface, IPv4 first, without zone ids. */
export function hostAddresses(ctx: Context): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const addresses of Object.values(ctx.os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.internal) continue;
      (address.family === "IPv4" ? v4 : v6).push(address.address.split("%")[0] ?? address.address);
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

/**
 * The computer's DNS name and its primary DNS suffix (what `ipconfig /all` shows as "Primary Dns Suffix",
 * and what Windows registers in DNS): Tcpip\Parameters' Domain (set by hand, by Group Policy or by joining a
 * domain) or "NV Domain". It can differ from the AD domain (a disjoint namespace) and can be set in a
 * workgroup, so Win32_ComputerSystem.Domain alone is not the FQDN.
 */
export const WINDOWS_HOST_COMMAND =
  "$cs = Get-CimInstance Win32_ComputerSystem; $tcp = Get-ItemProperty 'HKLM:\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters'; " +
  "[pscustomobject]@{ DNSHostName = $cs.DNSHostName; Domain = $cs.Domain; PartOfDomain = $cs.PartOfDomain; HostName = $tcp.Hostname;" +
  " PrimaryDnsSuffix = $(if ($tcp.Domain) { $tcp.Domain } else { [string]$tcp.'NV Domain' }) } | ConvertTo-Json -Compress";

export function parseWindowsHost(text: string, fallbackName: string): { hostname: string; fqdn: string } {
  const record = asRecord(parsePowerShellJson(text));
  const hostname = str(record.DNSHostName) || str(record.HostName) || fallbackName;
  if ("PrimaryDnsSuffix" in record) {
    const suffix = str(record.PrimaryDnsSuffix).replace(/\.$/, "");
    return { hostname, fqdn: suffix ? `${hostname}.${suffix}` : hostname };
  }
  // A recording from before the suffix was read: the AD domain of a member.
  const domain = str(record.Domain);
  const fqdn = record.PartOfDomain === true && domain ? `${hostname}.${domain}` : hostname;
  return { hostname, fqdn };
}

/** The name and addresses come from the runtime; only the FQDN needs PowerShell. */
export async function hostWindows(ctx: Context): Promise<Host> {
  const hostname = ctx.os.hostname();
  const runtime: Host = { hostname: clip(hostname), fqdn: "", ips: hostAddresses(ctx) };
  const text = await orPartial(runtime, ["fqdn"], () => ctx.powerShell(WINDOWS_HOST_COMMAND));
  const parsed = await orPartial(runtime, ["fqdn"], async () => parseWindowsHost(text, hostname));
  return { ...runtime, hostname: clip(parsed.hostname), fqdn: clip(parsed.fqdn) };
}
