// Default gateways and DNS resolvers (Linux), from the kernel's route tables and resolv.conf.
import type { Gateway, NetworkConfig } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { clip } from "./_limits.ts";
import { compressIpv6 } from "./network.ts";

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;
const RTF_REJECT = 0x200;

/** /proc/net/route: the default routes (destination and mask 0) through a gateway, address little-endian. */
export function parseIpv4Routes(text: string): Gateway[] {
  const gateways: Gateway[] = [];
  for (const line of text.split("\n").slice(1)) {
    const [iface, destination, gateway, flags, , , metric, mask] = line.trim().split(/\s+/);
    if (!iface || !gateway || destination !== "00000000" || mask !== "00000000") continue;
    const flagBits = Number.parseInt(flags ?? "0", 16);
    if ((flagBits & (RTF_UP | RTF_GATEWAY)) !== (RTF_UP | RTF_GATEWAY)) continue;
    const value = Number.parseInt(gateway, 16);
    const octets = [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
    gateways.push({ address: octets.join("."), interface: clip(iface), metric: Number(metric) || 0 });
  }
  return gateways;
}

/** /proc/net/ipv6_route: `dest plen src plen nexthop metric refcnt use flags device`, all hex. */
export function parseIpv6Routes(text: string): Gateway[] {
  const gateways: Gateway[] = [];
  for (const line of text.split("\n")) {
    const [destination, length, , , nexthop, metric, , , flags, device] = line.trim().split(/\s+/);
    if (!device || !nexthop || !/^0{32}$/.test(destination ?? "") || length !== "00") continue;
    const flagBits = Number.parseInt(flags ?? "0", 16);
    if (flagBits & RTF_REJECT || !(flagBits & RTF_UP) || /^0{32}$/.test(nexthop)) continue;
    gateways.push({
      address: compressIpv6(nexthop),
      interface: clip(device),
      metric: Number.parseInt(metric ?? "0", 16) || 0,
    });
  }
  return gateways;
}

/** resolv.conf: nameserver lines, and the last search/domain line (as the resolver reads it). */
export function parseResolvConf(text: string): { servers: string[]; search: string[] } {
  const servers: string[] = [];
  let search: string[] = [];
  for (const line of text.split("\n")) {
    const [keyword, ...values] = (line.split(/[#;]/)[0] ?? "").trim().split(/\s+/);
    if (keyword === "nameserver" && values[0]) servers.push(values[0]);
    if ((keyword === "search" || keyword === "domain") && values.length) search = values;
  }
  return { servers, search };
}

/** The address systemd-resolved's stub listens on: the real servers are in its own resolv.conf. */
const RESOLVED_STUB = new Set(["127.0.0.53", "127.0.0.54"]);

export async function networkConfigLinux(ctx: Context): Promise<NetworkConfig> {
  const routes = readText(ctx.root, "proc", "net", "route");
  if (routes === undefined) ctx.partial("cannot read /proc/net/route: no IPv4 gateway");
  // No IPv6 in the kernel (ipv6.disable=1) leaves no ipv6_route at all: nothing to say then.
  const routes6 = readText(ctx.root, "proc", "net", "ipv6_route") ?? "";
  let resolv = readText(ctx.root, "etc", "resolv.conf");
  if (resolv === undefined) ctx.partial("cannot read /etc/resolv.conf: no DNS servers");
  let dns = parseResolvConf(resolv ?? "");
  if (dns.servers.length && dns.servers.every((server) => RESOLVED_STUB.has(server))) {
    resolv = readText(ctx.root, "run", "systemd", "resolve", "resolv.conf");
    if (resolv === undefined) {
      ctx.partial(
        "DNS goes through systemd-resolved's stub and /run/systemd/resolve/resolv.conf cannot be read",
      );
    } else {
      const upstream = parseResolvConf(resolv);
      dns = { servers: upstream.servers, search: upstream.search.length ? upstream.search : dns.search };
    }
  }
  return {
    gateways: [...parseIpv4Routes(routes ?? ""), ...parseIpv6Routes(routes6)].slice(0, LIMITS.gateways),
    dns_servers: dns.servers.slice(0, LIMITS.nameservers).map((server) => clip(server, 64)),
    dns_search: dns.search.slice(0, LIMITS.nameservers).map((domain) => clip(domain)),
  };
}
