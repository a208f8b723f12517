// The Linux text parsers, on the inputs that trip them.
import { describe, expect, test } from "bun:test";
import { parsePasswd, passwdSources } from "../../../src/agent/collect/_nss.ts";
import { loadPercent, parseCpuinfo, parseProcStat } from "../../../src/agent/collect/cpu.ts";
import { dedupeByDevice, parseMounts } from "../../../src/agent/collect/disks.ts";
import {
  canonicalFromHosts,
  dnsCandidates,
  hostsSources,
  parseResolvConf,
} from "../../../src/agent/collect/host.ts";
import { parseMeminfo } from "../../../src/agent/collect/memory.ts";
import { parseOsRelease } from "../../../src/agent/collect/os.ts";
import { parsePidStat } from "../../../src/agent/collect/processes.ts";

describe("parsePidStat", () => {
  const tail = "S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 4242 1000000 321 18446744073709551615";
  for (const [comm, why] of [
    ["sleep", "a plain name"],
    ["tmux: server", "a name with a space"],
    ["(sd-pam)", "a name in parentheses"],
    ["a) S 9 9", "a name that looks like the fields after it"],
  ] as const) {
    test(`reads ${why}`, () => {
      expect(parsePidStat(`123 (${comm}) ${tail}`)).toEqual({
        comm,
        state: "S",
        ppid: 1,
        ticks: 300,
        starttime: 4242,
        rss: 321,
        threads: 1,
      });
    });
  }

  test("rejects a line without a name", () => {
    expect(parsePidStat("garbage")).toBeUndefined();
  });
});

describe("parseOsRelease", () => {
  for (const [text, want] of [
    [
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n',
      { name: "Debian GNU/Linux", version: "12", build: "", pretty: "Debian GNU/Linux 12 (bookworm)" },
    ],
    [
      'NAME="Ubuntu"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"',
      { name: "Ubuntu", version: "22.04", build: "", pretty: "Ubuntu 22.04.4 LTS" },
    ],
    [
      "NAME=Alpine Linux\nID=alpine\nVERSION_ID=3.20.1\nPRETTY_NAME='Alpine Linux v3.20'",
      { name: "Alpine Linux", version: "3.20.1", build: "", pretty: "Alpine Linux v3.20" },
    ],
    [
      'NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n# no version: a rolling release\n',
      { name: "Arch Linux", version: "", build: "rolling", pretty: "Arch Linux" },
    ],
  ] as const) {
    test(`names ${want.pretty} as the distribution does`, () => {
      expect(parseOsRelease(text)).toEqual(want);
    });
  }
});

describe("parseMeminfo", () => {
  test("reads total, available and swap in bytes", () => {
    const text =
      "MemTotal:       16303412 kB\nMemFree:  1000 kB\nMemAvailable:   12000000 kB\nSwapTotal: 2097148 kB\nSwapFree: 2000000 kB\n";
    expect(parseMeminfo(text)).toEqual({
      total_bytes: 16303412 * 1024,
      available_bytes: 12000000 * 1024,
      swap_total_bytes: 2097148 * 1024,
      swap_used_bytes: 97148 * 1024,
    });
  });

  test("estimates available memory on kernels before 3.14", () => {
    const text =
      "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB";
    expect(parseMeminfo(text).available_bytes).toBe(400 * 1024);
  });
});

describe("parseCpuinfo", () => {
  test("counts logical and physical cores of a hyper-threaded x86 CPU", () => {
    const block = (processor: number, core: number) =>
      `processor\t: ${processor}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)  CPU E5-2680 v4 @ 2.40GHz\ncpu MHz\t\t: 2399.998\nphysical id\t: 0\ncore id\t\t: ${core}\n`;
    const cpu = parseCpuinfo([block(0, 0), block(1, 1), block(2, 0), block(3, 1)].join("\n"));
    expect(cpu).toEqual({
      manufacturer: "Intel",
      model: "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
      speed_ghz: 2.4,
      cores: 4,
      physical_cores: 2,
    });
  });

  test("names an ARM CPU's maker from its implementer code", () => {
    const block = (n: number) =>
      `processor\t: ${n}\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n`;
    expect(parseCpuinfo(`${block(0)}\n${block(1)}`)).toMatchObject({
      manufacturer: "ARM",
      cores: 2,
      physical_cores: 2,
    });
  });
});

describe("parseProcStat and loadPercent", () => {
  test("turn two /proc/stat readings into the busy share between them", () => {
    const before = parseProcStat("cpu  100 0 100 700 100 0 0 0 0 0\nbtime 1700000000\n");
    const after = parseProcStat("cpu  250 0 150 850 150 0 0 0 0 0\nbtime 1700000000\n");
    expect(before.bootTime).toBe(1_700_000_000);
    expect(loadPercent(before, after)).toBe(50);
    expect(loadPercent(undefined, after)).toBeNull();
  });
});

describe("parseMounts", () => {
  test("keeps filesystems that hold data, with escaped spaces decoded", () => {
    const text = [
      "proc /proc proc rw 0 0",
      "/dev/sda1 / ext4 rw 0 0",
      "/dev/sda1 /var/lib/docker ext4 rw 0 0",
      "/dev/sdb1 /srv/my\\040data xfs rw 0 0",
      "/dev/loop3 /snap/core/1 squashfs ro 0 0",
      "nas:/export /mnt/nas nfs4 rw 0 0",
      "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0",
    ].join("\n");
    expect(parseMounts(text).map((mount) => [mount.mount, mount.fs])).toEqual([
      ["/", "ext4"],
      ["/var/lib/docker", "ext4"],
      ["/srv/my data", "xfs"],
      ["/mnt/nas", "nfs4"],
    ]);
  });

  for (const [line, listed, why] of [
    ["tmpfs /tmp tmpfs rw,nosuid,nodev,size=2g 0 0", true, "/tmp, which can fill up"],
    ["tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0", true, "POSIX shared memory"],
    ["tmpfs /run tmpfs rw,nosuid,nodev,size=1g,mode=755 0 0", true, "/run"],
    ["tmpfs /run/user/1000 tmpfs rw,nosuid,nodev,size=400m 0 0", true, "a user's runtime directory"],
    ["tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0", false, "a container's /dev (device nodes)"],
    ["tmpfs /proc/kcore tmpfs rw,nosuid,size=65536k 0 0", false, "a container's mask over /proc"],
    ["tmpfs /sys/fs/cgroup tmpfs rw,mode=755 0 0", false, "a tmpfs under /sys"],
    ["tmpfs /sys/firmware tmpfs ro,relatime 0 0", false, "a read-only mask"],
    [
      "tmpfs /run/credentials/getty@tty1.service tmpfs ro,nosuid,size=1024k 0 0",
      false,
      "systemd's credentials",
    ],
  ] as const) {
    test(`${listed ? "lists" : "leaves out"} a tmpfs: ${why}`, () => {
      expect(parseMounts(line).length).toBe(listed ? 1 : 0);
    });
  }
});

describe("dedupeByDevice", () => {
  const m = (device: string, mount: string, dev: number, fs = "ext4") => ({ device, mount, fs, dev });
  for (const [why, mounts, want] of [
    [
      "merges a bind mount into the mount nearest the root",
      [m("/dev/sda1", "/var/lib/docker", 1), m("/dev/sda1", "/", 1)],
      ["/"],
    ],
    [
      "lists btrfs subvolumes of one device mounted separately, each with its own st_dev",
      [m("/dev/sda2", "/", 40, "btrfs"), m("/dev/sda2", "/home", 41, "btrfs")],
      ["/", "/home"],
    ],
    [
      "lists separate tmpfs mounts",
      [m("tmpfs", "/tmp", 50, "tmpfs"), m("tmpfs", "/dev/shm", 51, "tmpfs")],
      ["/tmp", "/dev/shm"],
    ],
    [
      "keeps a real device over a pseudo one",
      [m("overlay", "/", 60, "overlay"), m("/dev/vdb", "/data", 60)],
      ["/data"],
    ],
    [
      "lets a mount on the same directory hide the one below",
      [m("/dev/sda1", "/srv", 70), m("/dev/sdb1", "/srv", 70)],
      ["/srv"],
    ],
    [
      "keeps shares from two servers apart",
      [m("a:/x", "/mnt/a", 80, "nfs4"), m("b:/x", "/mnt/b", 80, "nfs4")],
      ["/mnt/a", "/mnt/b"],
    ],
  ] as const) {
    test(why, () => {
      expect(dedupeByDevice(mounts).map((mount) => mount.mount)).toEqual([...want]);
    });
  }

  test("takes the device of the mount on top", () => {
    expect(dedupeByDevice([m("/dev/sda1", "/srv", 70), m("/dev/sdb1", "/srv", 70)])[0]?.device).toBe(
      "/dev/sdb1",
    );
  });
});

describe("canonicalFromHosts", () => {
  for (const [hostname, hosts, want] of [
    ["web01", "127.0.1.1 web01.corp.example.com web01\n", "web01.corp.example.com"],
    ["web01", "127.0.1.1 web01 web01.corp.example.com\n", "web01"],
    [
      "web01",
      "10.0.0.5 db.corp.example.com\n10.0.0.7 app.corp.example.com web01 www\n",
      "app.corp.example.com",
    ],
    ["WEB01", "127.0.1.1 web01.corp.example.com web01\n", "web01.corp.example.com"],
    ["web01", "127.0.1.1 web01x.corp.example.com web01x\n", undefined],
    ["web01", "# 10.0.0.1 web01.old.example.com web01\n", undefined],
  ] as const) {
    test(`finds ${want} for ${hostname}`, () => {
      expect(canonicalFromHosts(hostname, hosts)).toBe(want);
    });
  }
});

describe("hostsSources, parseResolvConf and dnsCandidates", () => {
  test("read nsswitch.conf's hosts line without its actions", () => {
    expect(
      hostsSources("passwd: files\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname # x\n"),
    ).toEqual(["files", "mdns4_minimal", "dns", "myhostname"]);
    expect(hostsSources("")).toEqual(["files", "dns"]);
  });

  test("try the name as given first only when it has ndots dots", () => {
    const conf = parseResolvConf(
      "nameserver 10.0.0.2\ndomain old.example\nsearch corp.example.com lab.example\noptions ndots:2 timeout:1\n",
    );
    expect(conf).toEqual({
      servers: ["10.0.0.2"],
      search: ["corp.example.com", "lab.example"],
      ndots: 2,
      timeoutMs: 1000,
      attempts: 2,
    });
    expect(dnsCandidates("web01", conf)).toEqual(["web01.corp.example.com", "web01.lab.example", "web01"]);
    expect(dnsCandidates("a.b.c", conf)).toEqual(["a.b.c", "a.b.c.corp.example.com", "a.b.c.lab.example"]);
    expect(dnsCandidates("web01.", conf)).toEqual(["web01"]);
  });
});

describe("passwdSources", () => {
  for (const [text, want] of [
    ["passwd: files systemd\ngroup: files\n", ["files", "systemd"]],
    ["passwd:\tcompat [NOTFOUND=return] sss # AD users\n", ["compat", "sss"]],
    ["hosts: files dns\n", ["files"]],
  ] as const) {
    test(`reads ${JSON.stringify(text.split("\n")[0])}`, () => {
      expect(passwdSources(text)).toEqual([...want]);
    });
  }
});

describe("parsePasswd", () => {
  test("leaves out compat's +/- lines", () => {
    expect([
      ...parsePasswd("+@admins::::::\n-bob:::::\n+\nalice:x:1000:1000::/home/alice:/bin/sh\n"),
    ]).toEqual([[1000, "alice"]]);
  });

  test("maps uids to names, the first entry winning", () => {
    const users = parsePasswd(
      "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    );
    expect([...users]).toEqual([
      [0, "root"],
      [1000, "alice"],
    ]);
  });
});
