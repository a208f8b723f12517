// Default gateways and DNS servers, from a fake /proc + /etc + /run tree and against `ip route` here.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import {
  networkConfigLinux,
  parseIpv4Routes,
  parseIpv6Routes,
  parseResolvConf,
} from "../../../src/agent/collect/network-config.ts";
import { fakeContext, fakeRoot } from "./_root.ts";

const ROUTE = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	100	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
wlan0	00000000	FE01A8C0	0003	0	0	600	00000000	0	0	0
tun0	00000000	00000000	0001	0	0	0	00000000	0	0	0
`;
const ROUTE6 = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`;

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});
const root = (files: Record<string, string>) => {
  const made = fakeRoot(files);
  roots.push(made);
  return made;
};

describe("default gateways", () => {
  test("come from the default routes through a gateway, with interface and metric", () => {
    expect(parseIpv4Routes(ROUTE)).toEqual([
      { address: "192.0.2.1", interface: "eth0", metric: 100 },
      { address: "192.168.1.254", interface: "wlan0", metric: 600 },
    ]);
  });

  test("of IPv6 leave out the loopback reject route", () => {
    expect(parseIpv6Routes(ROUTE6)).toEqual([{ address: "fe80::1", interface: "eth0", metric: 1024 }]);
  });
});

describe("resolv.conf", () => {
  test("gives the name servers in order and the last search line, comments ignored", () => {
    expect(
      parseResolvConf(
        "# generated\nnameserver 192.0.2.53\nnameserver 2001:db8::53 # second\ndomain a.example\nsearch b.example c.example\n",
      ),
    ).toEqual({ servers: ["192.0.2.53", "2001:db8::53"], search: ["b.example", "c.example"] });
  });
});

describe("networkConfigLinux", () => {
  test("reads the upstream servers of systemd-resolved when resolv.conf points at its stub", async () => {
    const ctx = fakeContext(
      root({
        "proc/net/route": ROUTE,
        "proc/net/ipv6_route": ROUTE6,
        "etc/resolv.conf": "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n",
        "run/systemd/resolve/resolv.conf": "nameserver 192.0.2.53\nnameserver 192.0.2.54\n",
      }),
    );
    expect(await networkConfigLinux(ctx)).toEqual({
      gateways: [
        { address: "192.0.2.1", interface: "eth0", metric: 100 },
        { address: "192.168.1.254", interface: "wlan0", metric: 600 },
        { address: "fe80::1", interface: "eth0", metric: 1024 },
      ],
      dns_servers: ["192.0.2.53", "192.0.2.54"],
      dns_search: ["corp.example"],
    });
  });

  test("names what it could not read instead of reporting no gateway and no DNS as facts", async () => {
    const notes: string[] = [];
    const ctx = fakeContext(root({ "etc/resolv.conf": "nameserver 127.0.0.53\n" }), {}, notes);
    expect(await networkConfigLinux(ctx)).toEqual({
      gateways: [],
      dns_servers: ["127.0.0.53"],
      dns_search: [],
    });
    expect(notes).toEqual([
      "cannot read /proc/net/route: no IPv4 gateway",
      "DNS goes through systemd-resolved's stub and /run/systemd/resolve/resolv.conf cannot be read",
    ]);
  });
});

const ip = Bun.which("ip");
describe.skipIf(process.platform !== "linux" || !ip)("networkConfigLinux on this machine", () => {
  test("finds the default gateways ip route shows", async () => {
    const routes = (family: string) =>
      JSON.parse(Bun.spawnSync([ip ?? "ip", family, "-j", "route", "show", "default"]).stdout.toString()) as {
        gateway?: string;
        dev: string;
      }[];
    const truth = [...routes("-4"), ...routes("-6")]
      .filter((route) => route.gateway)
      .map((route) => `${route.gateway} ${route.dev}`);
    const ours = (await networkConfigLinux(fakeContext("/"))).gateways.map(
      (g) => `${g.address} ${g.interface}`,
    );
    expect(ours.sort()).toEqual(truth.sort());
  });
});
