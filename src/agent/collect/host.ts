// Host: name, fully qualified name and the addresses other machines can reach it on.
import { Resolver } from "node:dns/promises";
import type { Report } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { clip } from "./_limits.ts";
import { orPartial } from "./_partial.ts";
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
 * The canonical name the C library's "files" source gives for `name` (what getaddrinfo's AI_CANONNAME, and
 * so `hostname -f`, prints): the first name of the first /etc/hosts line that lists it in any position.
 * With "127.0.1.1 web01 web01.example.com" that is "web01", as `hostname -f` says too.
 */
export function canonicalFromHosts(name: string, hostsFile: string | undefined): string | undefined {
  const wanted = name.toLowerCase();
  for (const line of (hostsFile ?? "").split("\n")) {
    const names = (line.split("#")[0] ?? "").trim().split(/\s+/).slice(1);
    if (names.some((entry) => entry.toLowerCase() === wanted)) return names[0];
  }
  return undefined;
}

/** The sources of nsswitch.conf's `hosts:` line, in order, actions ("[NOTFOUND=return]") left out. */
export function hostsSources(nsswitch: string | undefined): string[] {
  const line = /^\s*hosts:(.*)$/m.exec(nsswitch ?? "")?.[1];
  if (line === undefined) return ["files", "dns"]; // glibc's default
  return (line.split("#")[0] ?? "")
    .replace(/\[[^\]]*\]/g, " ")
    .trim()
    .split(/\s+/)
    .filter(Boolean);
}

interface ResolvConf {
  servers: string[];
  search: string[];
  ndots: number;
  timeoutMs: number;
  attempts: number;
}

/** resolv.conf as glibc reads it: the last `search` or `domain` line wins; at most 3 name servers. */
export function parseResolvConf(text: string | undefined): ResolvConf {
  const conf: ResolvConf = { servers: [], search: [], ndots: 1, timeoutMs: 5000, attempts: 2 };
  for (const raw of (text ?? "").split("\n")) {
    const [key, ...values] = (raw.split(/[#;]/)[0] ?? "").trim().split(/\s+/);
    if (key === "nameserver" && values[0] && conf.servers.length < 3) conf.servers.push(values[0]);
    if (key === "search" || key === "domain") conf.search = values.filter(Boolean).slice(0, 6);
    if (key === "options") {
      for (const option of values) {
        const [name, value] = option.split(":");
        const n = Number(value);
        if (!Number.isFinite(n)) continue;
        if (name === "ndots") conf.ndots = Math.min(n, 15);
        if (name === "timeout") conf.timeoutMs = Math.min(n, 30) * 1000;
        if (name === "attempts") conf.attempts = Math.min(n, 5);
      }
    }
  }
  return conf;
}

/** The names the resolver tries for `name`, in its order: as given first when it has ndots dots or more. */
export function dnsCandidates(name: string, conf: ResolvConf): string[] {
  if (name.endsWith(".")) return [name.slice(0, -1)];
  const searched = conf.search.map((domain) => `${name}.${domain.replace(/\.$/, "")}`);
  const dots = name.split(".").length - 1;
  return dots >= conf.ndots ? [name, ...searched] : [...searched, name];
}

/** The first candidate the name servers know (an A or AAAA record), or undefined. */
async function fqdnFromDns(ctx: Context, name: string): Promise<string | undefined> {
  const conf = parseResolvConf(readText(ctx.root, "etc", "resolv.conf"));
  // glibc would ask 127.0.0.1 when no name server is listed; a host with a local resolver lists it, and
  // one without would only wait out a timeout on every report.
  if (conf.servers.length === 0) return undefined;
  // Bounded below what glibc allows (5 s, 2 attempts), so the host collector stays well inside its timeout.
  const resolver = new Resolver({
    timeout: Math.min(conf.timeoutMs, 1000),
    tries: Math.min(conf.attempts, 2),
  });
  resolver.setServers(conf.servers);
  for (const candidate of dnsCandidates(name, conf)) {
    for (const type of ["A", "AAAA"] as const) {
      try {
        if ((await resolver.resolve(candidate, type)).length) return candidate;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENODATA") continue; // the name exists without this record type: try the other
        if (code === "ENOTFOUND") break; // no such name: next candidate
        ctx.partial(`fqdn: DNS lookup of ${candidate} failed: ${code ?? String(error)}`);
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * The FQDN as `hostname -f` finds it (getaddrinfo with AI_CANONNAME) without spawning it: nsswitch.conf's
 * hosts sources in order: "files" is /etc/hosts, "myhostname" (systemd) answers the hostname itself, "dns"
 * and "resolve" ask the name servers with resolv.conf's search domains. Sources that cannot name this host
 * (mdns) are passed over; a CNAME is not followed. Nothing found: the hostname.
 */
async function resolveFqdn(ctx: Context, hostname: string): Promise<string> {
  for (const source of hostsSources(readText(ctx.root, "etc", "nsswitch.conf"))) {
    if (source === "files") {
      const canonical = canonicalFromHosts(hostname, readText(ctx.root, "etc", "hosts"));
      if (canonical) return canonical;
    } else if (source === "myhostname") {
      return hostname;
    } else if (source === "dns" || source === "resolve") {
      const found = await fqdnFromDns(ctx, hostname);
      if (found) return found;
    }
  }
  return hostname;
}

export async function hostLinux(ctx: Context): Promise<Host> {
  const hostname = ctx.os.hostname();
  return {
    hostname: clip(hostname),
    fqdn: clip(await resolveFqdn(ctx, hostname)),
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
