// Linux software on this host against its own package tools (ground truth), and on recorded databases of the
// other package managers: a real rpmdb.sqlite made with Debian's rpm, apk's installed file, pacman's local
// directory. A database that exists but cannot be read is named in errors; the others still count.
import { describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { parseRpmQuery, RPM_QUERY_FORMAT, readRpmSqlite } from "../../../src/agent/collect/_rpmdb.ts";
import { readLinuxSoftware, softwareLinux } from "../../../src/agent/collect/software.ts";
import { checkReport } from "../../../src/shared/report.ts";
import { sampleReport } from "../../helpers/report.ts";
import { fakeContext, fakeRoot } from "./_root.ts";

const FIXTURES = join(import.meta.dir, "..", "..", "fixtures", "linux");
const fixture = (...parts: string[]) => readFileSync(join(FIXTURES, ...parts), "utf8");
const hasDpkg = Bun.which("dpkg-query") !== null && existsSync("/var/lib/dpkg/status");
const hasRpm = Bun.which("rpm") !== null;

async function run(cmd: string[]): Promise<string> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "ignore" });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`${cmd.join(" ")} failed`);
  return out;
}

describe.skipIf(!hasDpkg)(`this host's dpkg database${hasDpkg ? "" : " (skipped: no dpkg here)"}`, () => {
  test("lists as many packages as dpkg-query counts installed, at the versions it names", async () => {
    const notes: string[] = [];
    const section = await softwareLinux(fakeContext("/", {}, notes));
    const abbrev = await run(["dpkg-query", "-W", `-f=\${db:Status-Abbrev}\\n`]);
    const installed = abbrev.split("\n").filter((line) => line.startsWith("ii")).length;
    const dpkg = (section.items ?? []).filter((item) => item.source === "dpkg");
    expect(dpkg.length).toBe(installed);
    const truth = await run([
      "dpkg-query",
      "-W",
      `-f=\${db:Status-Abbrev} \${Package}:\${Architecture} \${Version}\\n`,
    ]);
    const want = new Map<string, string>(
      truth
        .split("\n")
        .filter((line) => line.startsWith("ii"))
        .map((line) => {
          const [, id = "", version = ""] = line.split(/\s+/);
          return [id, version];
        }),
    );
    const got = new Map(dpkg.map((item) => [`${item.name}:${item.arch}`, item.version]));
    expect(got).toEqual(want);
    expect(notes).toEqual([]);
    // Every installed package has an install date (its file list's mtime); a size where dpkg has one.
    expect(dpkg.every((item) => item.install_date !== null)).toBe(true);
    expect(dpkg.filter((item) => item.size_bytes !== null).length).toBeGreaterThan(installed * 0.9);
  });

  test("the section passes the report schema and its hash is the same on a second read", async () => {
    const a = await softwareLinux(fakeContext("/"));
    const b = await softwareLinux(fakeContext("/"));
    expect(b.hash).toBe(a.hash);
    expect(checkReport({ ...sampleReport(), software: a }).ok).toBe(true);
  });
});

describe("rpmdb.sqlite", () => {
  const path = join(FIXTURES, "rpm", "rpmdb.sqlite");
  const want = [
    {
      name: "openssl-libs",
      version: "1:3.0.7-27.el9",
      vendor: "Rocky Enterprise Software Foundation",
      arch: "x86_64",
      size_bytes: 4096,
      source: "rpm",
    },
    {
      name: "tzdata",
      version: "2024a-1.el9",
      vendor: "",
      arch: "noarch",
      size_bytes: 4096,
      source: "rpm",
    },
    {
      name: "bash",
      version: "5.1.8-9.el9",
      vendor: "Rocky Enterprise Software Foundation",
      arch: "x86_64",
      size_bytes: 4096,
      source: "rpm",
    },
  ];

  test("reads every package's header through bun:sqlite, epoch and release included", () => {
    const items = readRpmSqlite(path);
    expect(
      items.map(({ install_date: _, ...rest }) => rest).sort((a, b) => a.name.localeCompare(b.name)),
    ).toEqual([...want].sort((a, b) => a.name.localeCompare(b.name)));
    expect(items.every((item) => /^\d{4}-\d\d-\d\dT/.test(item.install_date ?? ""))).toBe(true);
  });

  test.skipIf(!hasRpm)("says what rpm -qa says of the same database", async () => {
    const dir = fakeRoot({});
    copyFileSync(path, join(dir, "rpmdb.sqlite"));
    const out = await run(["rpm", "--dbpath", dir, "-qa", "--queryformat", RPM_QUERY_FORMAT]);
    const byName = (items: { name: string }[]) => [...items].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName(readRpmSqlite(path))).toEqual(byName(parseRpmQuery(out)));
  });

  test("is found under /usr/lib/sysimage/rpm; an older database goes through rpm -qa", async () => {
    const root = fakeRoot({});
    mkdirSync(join(root, "usr", "lib", "sysimage", "rpm"), { recursive: true });
    copyFileSync(path, join(root, "usr", "lib", "sysimage", "rpm", "rpmdb.sqlite"));
    expect(await readLinuxSoftware(fakeContext(root))).toHaveLength(3);

    const bdb = fakeRoot({ "var/lib/rpm/Packages": "" });
    let asked = 0;
    const recorded =
      "bash\t(none)\t4.2.46\t35.el7_9\tx86_64\tCentOS\t1700000000\t3667773\ngpg-pubkey\t(none)\tf4a80eb5\t53a7ff4b\t(none)\t(none)\t1700000000\t0\n";
    const items = await readLinuxSoftware(fakeContext(bdb), {
      rpmQuery: async () => {
        asked++;
        return recorded;
      },
    });
    expect(asked).toBe(1);
    expect(items).toEqual([
      {
        name: "bash",
        version: "4.2.46-35.el7_9",
        vendor: "CentOS",
        arch: "x86_64",
        install_date: "2023-11-14T22:13:20.000Z",
        size_bytes: 3667773,
        source: "rpm",
      },
    ]);
  });

  test("a failing rpm -qa is named in errors", async () => {
    const notes: string[] = [];
    const root = fakeRoot({ "var/lib/rpm/Packages.db": "" });
    await readLinuxSoftware(fakeContext(root, {}, notes), {
      rpmQuery: async () => {
        throw new Error("rpm -qa exited with 1: error: rpmdb open failed");
      },
    });
    expect(notes).toEqual(["rpm packages not read: rpm -qa exited with 1: error: rpmdb open failed"]);
  });
});

test("apk: every package of /lib/apk/db/installed with its maintainer and installed size", async () => {
  const root = fakeRoot({ "lib/apk/db/installed": fixture("apk", "installed") });
  const items = await readLinuxSoftware(fakeContext(root));
  expect(items.map((item) => [item.name, item.version])).toEqual([
    ["musl", "1.2.5-r0"],
    ["libssl3", "3.3.2-r1"],
    ["busybox", "1.36.1-r29"],
  ]);
  expect(items[2]).toEqual({
    name: "busybox",
    version: "1.36.1-r29",
    vendor: "Sören Tempel <soeren+alpine@soeren-tempel.net>",
    arch: "x86_64",
    install_date: null,
    size_bytes: 942080,
    source: "apk",
  });
});

test("pacman: each local/<package>/desc, install date included; plain files in the directory are skipped", async () => {
  const root = fakeRoot({
    "var/lib/pacman/local/ALPM_DB_VERSION": "9\n",
    "var/lib/pacman/local/zlib-1.3.1-2/desc": fixture("pacman", "zlib-1.3.1-2", "desc"),
    "var/lib/pacman/local/openssl-3.4.0-1/desc": fixture("pacman", "openssl-3.4.0-1", "desc"),
  });
  const items = (await readLinuxSoftware(fakeContext(root))).sort((a, b) => a.name.localeCompare(b.name));
  expect(items).toEqual([
    {
      name: "openssl",
      version: "3.4.0-1",
      vendor: "Pierre Schmitz <pierre@archlinux.org>",
      arch: "x86_64",
      install_date: "2024-11-07T17:20:00.000Z",
      size_bytes: 8453232,
      source: "pacman",
    },
    {
      name: "zlib",
      version: "1:1.3.1-2",
      vendor: "Levente Polyak <anthraxx@archlinux.org>",
      arch: "x86_64",
      install_date: "2024-10-27T03:33:20.000Z",
      size_bytes: 370349,
      source: "pacman",
    },
  ]);
});

test("snap and flatpak where present", async () => {
  const root = fakeRoot({
    "snap/lxd/current/meta/snap.yaml": "name: lxd\nversion: '5.21.2-2f4ba6b'\narchitectures:\n  - amd64\n",
    "snap/bin/lxc": "",
  });
  mkdirSync(join(root, "var", "lib", "flatpak", "app", "org.mozilla.firefox", "x86_64", "stable"), {
    recursive: true,
  });
  symlinkSync("x86_64/stable", join(root, "var", "lib", "flatpak", "app", "org.mozilla.firefox", "current"));
  const items = await readLinuxSoftware(fakeContext(root));
  expect(items.map((item) => [item.source, item.name, item.version, item.arch])).toEqual([
    ["snap", "lxd", "5.21.2-2f4ba6b", "amd64"],
    ["flatpak", "org.mozilla.firefox", "stable", "x86_64"],
  ]);
});

test("a status file that cannot be read is named in errors; apk's database still counts", async () => {
  const root = fakeRoot({ "lib/apk/db/installed": fixture("apk", "installed") });
  // A directory where the file should be: EISDIR, as unreadable as a file without permission (root reads those).
  mkdirSync(join(root, "var", "lib", "dpkg", "status"), { recursive: true });
  const notes: string[] = [];
  const items = await readLinuxSoftware(fakeContext(root, {}, notes));
  expect(items).toHaveLength(3);
  expect(notes).toEqual([expect.stringMatching(/^\/var\/lib\/dpkg\/status: EISDIR/)]);
});

test("a host with no package database sends an empty list and no error", async () => {
  const notes: string[] = [];
  const section = await softwareLinux(fakeContext(fakeRoot({}), {}, notes));
  expect(section.items).toEqual([]);
  expect(notes).toEqual([]);
});
