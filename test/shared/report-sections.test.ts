// The optional sections and fields of issue 11 (network details, gateways and DNS, block devices, local
// accounts): a report without them still passes, one with them is checked field by field.
import { describe, expect, test } from "bun:test";
import { checkReport, LIMITS } from "../../src/shared/report.ts";
import { sampleReport } from "../helpers/report.ts";

const full = () =>
  sampleReport({
    network: [
      {
        name: "eth0",
        mac: "52:54:00:12:34:56",
        ipv4: ["192.0.2.10"],
        ipv6: [],
        addresses: [{ address: "192.0.2.10", prefix: 24 }],
        state: "up",
        speed_mbps: 1000,
        mtu: 1500,
        virtual: false,
      },
    ],
    network_config: {
      gateways: [{ address: "192.0.2.1", interface: "eth0", metric: 100 }],
      dns_servers: ["192.0.2.53"],
      dns_search: ["example.org"],
    },
    block_devices: [
      {
        name: "sda",
        type: "disk",
        size_bytes: 1e12,
        model: "WDC",
        vendor: "ATA",
        serial: "W1",
        rotational: true,
        removable: null,
      },
    ],
    accounts: {
      users: [
        {
          name: "alice",
          uid: 1000,
          gid: 1000,
          home: "/home/alice",
          shell: "/bin/bash",
          locked: null,
          last_login_at: "2026-01-02T03:04:05.000Z",
        },
      ],
      groups: [{ name: "sudo", gid: 27, members: ["alice"] }],
    },
  });

describe("the optional sections", () => {
  test("a report without them passes, as an older agent's does", () => {
    expect(checkReport(sampleReport()).ok).toBe(true);
  });

  test("a report with all of them passes", () => {
    expect(checkReport(full())).toMatchObject({ ok: true });
  });

  const bad: [string, (report: ReturnType<typeof full>) => void, string][] = [
    [
      "a prefix beyond 128",
      (r) => Object.assign((r.network[0]?.addresses ?? [])[0] ?? {}, { prefix: 129 }),
      "network.0.addresses.0.prefix",
    ],
    ["a negative uid", (r) => Object.assign(r.accounts?.users[0] ?? {}, { uid: -1 }), "accounts.users.0.uid"],
    [
      "locked as a string",
      (r) => Object.assign(r.accounts?.users[0] ?? {}, { locked: "yes" }),
      "accounts.users.0.locked",
    ],
    [
      "a gateway without metric",
      (r) => Object.assign(r.network_config?.gateways[0] ?? {}, { metric: "x" }),
      "network_config.gateways.0.metric",
    ],
    [
      "too many DNS servers",
      (r) =>
        Object.assign(r.network_config ?? {}, {
          dns_servers: Array(LIMITS.nameservers + 1).fill("192.0.2.53"),
        }),
      "network_config.dns_servers",
    ],
    [
      "a block device size as text",
      (r) => Object.assign(r.block_devices?.[0] ?? {}, { size_bytes: "1T" }),
      "block_devices.0.size_bytes",
    ],
    ["block devices as an object", (r) => Object.assign(r, { block_devices: {} }), "block_devices"],
  ];
  for (const [what, spoil, path] of bad) {
    test(`rejects ${what}, naming ${path}`, () => {
      const report = full();
      spoil(report);
      const check = checkReport(report);
      expect(check.ok).toBe(false);
      if (!check.ok) expect(check.issues.map((issue) => issue.path)).toContain(path);
    });
  }
});
