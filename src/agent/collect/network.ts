// Network interfaces with their MAC, state and addresses.
//
// Windows (and anything not Linux) reads node:os: GetAdaptersAddresses underneath, no child process. On
// Linux node:os is not enough: libuv lists only interfaces that are up and running and have an address, so
// a down port or an unconfigured NIC would be missing. There every interface comes from /sys/class/net
// (MAC, operstate, speed, MTU, whether it is a real device), IPv6 addresses of every interface with their
// prefix from /proc/net/if_inet6, and IPv4 addresses from node:os: the kernel has no /proc file for them
// (only netlink), so a down interface's IPv4 addresses are not listed.
import { readdirSync } from "node:fs";
import type { NetworkInterfaceInfo as NetworkInfo } from "node:os";
import { join } from "node:path";
import type { NetworkAddress, NetworkInterface } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { clip } from "./_limits.ts";

export async function network(ctx: Context): Promise<NetworkInterface[]> {
  return Object.entries(ctx.os.networkInterfaces())
    .slice(0, LIMITS.interfaces)
    .map(([name, addresses = []]) => ({ name: clip(name), ...fromNodeOs(addresses, true) }));
}

/** MAC and addresses of one interface as node:os lists them. */
function fromNodeOs(addresses: NetworkInfo[], withIpv6: boolean) {
  const mac =
    addresses.find((address) => address.mac !== "00:00:00:00:00:00")?.mac ?? addresses[0]?.mac ?? "";
  const of = (family: string) => addresses.filter((address) => address.family === family);
  const ipv4 = of("IPv4");
  const ipv6 = withIpv6 ? of("IPv6") : [];
  return {
    mac: clip(mac, 64),
    ipv4: ipv4.map((address) => clip(address.address, 64)).slice(0, LIMITS.addresses),
    ipv6: ipv6.map((address) => clip(address.address, 64)).slice(0, LIMITS.addresses),
    addresses: [...ipv4, ...ipv6].slice(0, LIMITS.addresses).map(
      (address): NetworkAddress => ({
        address: clip(address.address, 64),
        prefix: Number(address.cidr?.split("/")[1] ?? prefixOfMask(address.netmask)),
      }),
    ),
  };
}

/** The prefix length of a netmask (255.255.255.0 → 24, ffff:ffff:: → 32). */
export function prefixOfMask(netmask: string): number {
  let bits = 0;
  for (const part of netmask.split(/[.:]/)) {
    if (!part) continue;
    const value = netmask.includes(":") ? Number.parseInt(part, 16) : Number(part);
    bits += value.toString(2).replace(/0/g, "").length;
  }
  return bits;
}

interface Inet6Address {
  address: string;
  prefix: number;
  /** The kernel's scope: 0 global, 0x20 link, 0x10 host (loopback), 0x40 site. */
  scope: number;
}

/** /proc/net/if_inet6: `address ifindex prefix scope flags name` per line, the address as 32 hex digits. */
export function parseIfInet6(text: string): Map<string, Inet6Address[]> {
  const byName = new Map<string, Inet6Address[]>();
  for (const line of text.split("\n")) {
    const [hex, , prefix, scope, , name] = line.trim().split(/\s+/);
    if (hex?.length !== 32 || !name) continue;
    const list = byName.get(name) ?? [];
    list.push({
      address: compressIpv6(hex),
      prefix: Number.parseInt(prefix ?? "0", 16),
      scope: Number.parseInt(scope ?? "0", 16),
    });
    byName.set(name, list);
  }
  return byName;
}

/** 32 hex digits as an IPv6 address in RFC 5952 form (lower case, longest run of zero groups as ::). */
export function compressIpv6(hex: string): string {
  const groups = (hex.toLowerCase().match(/.{4}/g) ?? []).map((group) =>
    Number.parseInt(group, 16).toString(16),
  );
  let best = { start: -1, length: 0 };
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(":");
  const head = groups.slice(0, best.start).join(":");
  const tail = groups.slice(best.start + best.length).join(":");
  return `${head}::${tail}`;
}

/** A /sys file's first line, or undefined when it cannot be read (speed of a down link: EINVAL). */
function sysValue(root: string, name: string, file: string): string | undefined {
  return readText(root, "sys", "class", "net", name, file)?.trim();
}

export async function networkLinux(ctx: Context): Promise<NetworkInterface[]> {
  const fromOs = ctx.os.networkInterfaces();
  let names: string[];
  try {
    names = readdirSync(join(ctx.root, "sys", "class", "net"));
  } catch (error) {
    ctx.partial(
      `cannot list /sys/class/net (${(error as NodeJS.ErrnoException).code ?? error}); only interfaces that are up are listed`,
    );
    return network(ctx);
  }
  const index = (name: string) => Number(sysValue(ctx.root, name, "ifindex") ?? Number.MAX_SAFE_INTEGER);
  names.sort((a, b) => index(a) - index(b) || a.localeCompare(b));
  // Aliases such as eth0:1 exist only in node:os (an IPv4 label), not in /sys: kept after the rest.
  for (const name of Object.keys(fromOs)) if (!names.includes(name)) names.push(name);
  const inet6Text = readText(ctx.root, "proc", "net", "if_inet6");
  const inet6 = inet6Text === undefined ? undefined : parseIfInet6(inet6Text);
  return names.slice(0, LIMITS.interfaces).map((name): NetworkInterface => {
    const base = fromNodeOs(fromOs[name] ?? [], inet6 === undefined);
    const v6 = (inet6?.get(name) ?? []).slice(0, LIMITS.addresses);
    const mac = sysValue(ctx.root, name, "address");
    const speed = Number(sysValue(ctx.root, name, "speed") ?? Number.NaN);
    const mtu = Number(sysValue(ctx.root, name, "mtu") ?? Number.NaN);
    const state = sysValue(ctx.root, name, "operstate");
    return {
      name: clip(name),
      mac: mac === undefined ? base.mac : clip(mac, 64),
      ipv4: base.ipv4,
      ipv6: inet6 ? v6.map((address) => address.address) : base.ipv6,
      addresses: [...base.addresses, ...v6.map(({ address, prefix }) => ({ address, prefix }))].slice(
        0,
        LIMITS.addresses,
      ),
      // What the kernel says: up, down, lowerlayerdown, dormant, unknown (loopback and many tunnels).
      state: clip(state ?? "unknown", 32),
      // Mb/s; the kernel answers -1 or refuses when the link is down or the driver does not know.
      speed_mbps: Number.isSafeInteger(speed) && speed > 0 ? speed : null,
      mtu: Number.isSafeInteger(mtu) && mtu > 0 ? mtu : null,
      // No `device` link: a bridge, veth, tunnel or loopback rather than a NIC.
      virtual: fromOs[name] !== undefined && state === undefined ? null : !hasDevice(ctx.root, name),
    };
  });
}

function hasDevice(root: string, name: string): boolean {
  try {
    readdirSync(join(root, "sys", "class", "net", name, "device"));
    return true;
  } catch {
    return false;
  }
}

/** Addresses only this link can reach: IPv4 169.254/16, IPv6 fe80::/10. Not for host.ips. */
export function isLinkLocal(ip: string): boolean {
  if (ip.includes(":")) return /^fe[89ab][0-9a-f]:/i.test(ip);
  return ip.startsWith("169.254.");
}
