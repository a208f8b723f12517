// systemd services (recorded `systemctl show`, and this host's systemctl where systemd runs) and Linux domain
// membership from realmd/SSSD, winbind and Kerberos configuration, on recorded files.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { domainLinux, linuxDomain } from "../../../src/agent/collect/domain.ts";
import { noSystemd, parseSystemctlShow, servicesLinux } from "../../../src/agent/collect/services.ts";
import { fakeContext, fakeRoot } from "./_root.ts";

const FIXTURES = join(import.meta.dir, "..", "..", "fixtures", "linux");
const fixture = (...parts: string[]) => readFileSync(join(FIXTURES, ...parts), "utf8");
const systemdHere = existsSync("/run/systemd/system");

describe("parseSystemctlShow", () => {
  const services = parseSystemctlShow(fixture("systemd", "show.txt"));

  test("one entry per loaded unit, with state, sub-state, enablement, pid, account and executable", () => {
    expect(services.map((service) => service.name)).toEqual([
      "ssh.service",
      "postgresql@15-main.service",
      "apt-daily.service",
      "nginx.service",
    ]);
    expect(services[0]).toEqual({
      name: "ssh.service",
      display_name: "OpenBSD Secure Shell server",
      state: "active",
      sub_state: "running",
      start_mode: "enabled",
      account: "root",
      pid: 812,
      path: "/usr/sbin/sshd",
    });
    expect(services[1]).toMatchObject({ account: "postgres", start_mode: "enabled-runtime", pid: 1034 });
    expect(services[3]).toMatchObject({ state: "failed", sub_state: "failed", pid: null });
  });
});

describe("no systemd", () => {
  test("in a container: no error, an empty list with its hash and the reason", async () => {
    const notes: string[] = [];
    const root = fakeRoot({ ".dockerenv": "", "proc/1/comm": "tini\n" });
    let called = false;
    const section = await servicesLinux(fakeContext(root, {}, notes), async () => {
      called = true;
      return "";
    });
    expect(called).toBe(false);
    expect(section.items).toEqual([]);
    expect(section.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(section.unavailable).toBe(
      "systemd is not running in this container (PID 1 is tini): no services listed",
    );
    expect(notes).toEqual([]);
  });

  test("on a host: says in errors that systemd is not the running init", async () => {
    const notes: string[] = [];
    const section = await servicesLinux(fakeContext(fakeRoot({ "proc/1/comm": "init\n" }), {}, notes));
    expect(notes).toEqual([
      "systemd is not running on this host (no /run/systemd/system, PID 1 is init): no services listed",
    ]);
    expect(section.items).toEqual([]);
    expect(noSystemd(fakeRoot({ "run/systemd/system/.keep": "" }))).toBeUndefined();
  });

  const containerHere = systemdHere ? false : (noSystemd("/")?.container ?? false);
  test.skipIf(systemdHere)(
    "this machine without systemd says so: in errors on a host, in the section in a container",
    async () => {
      const notes: string[] = [];
      const section = await servicesLinux(fakeContext("/", {}, notes));
      expect(section.unavailable).toMatch(/^systemd is not running/);
      expect(notes).toHaveLength(containerHere ? 0 : 1);
    },
  );

  test.skipIf(!systemdHere)("this machine's services are what systemctl lists", async () => {
    const section = await servicesLinux(fakeContext("/"));
    const proc = Bun.spawn(["systemctl", "list-units", "--all", "--type=service", "--no-legend", "--plain"], {
      stdout: "pipe",
    });
    const listed = (await new Response(proc.stdout).text())
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter(([, load]) => load === "loaded")
      .map(([name]) => name);
    expect((section.items ?? []).map((item) => item.name).sort()).toEqual(
      expect.arrayContaining(listed.sort()),
    );
  });
});

describe("Linux domain membership", () => {
  test("joined with realm join (SSSD, AD): domain, DC and realm from sssd.conf, the keytab as proof", async () => {
    const root = fakeRoot({
      "etc/sssd/sssd.conf": fixture("domain", "sssd.conf"),
      "etc/krb5.conf": fixture("domain", "krb5.conf"),
      "etc/krb5.keytab": "\u0005\u0002",
    });
    expect(await domainLinux(fakeContext(root))).toEqual({
      is_domain_joined: true,
      domain_name: "corp.example.com",
      workgroup: "",
      domain_controller: "dc01.corp.example.com",
      kind: "sssd",
      realm: "CORP.EXAMPLE.COM",
    });
  });

  test("an sssd.conf left without its keytab (a join that was undone) is not a membership", () => {
    const domain = linuxDomain({
      sssd: fixture("domain", "sssd.conf"),
      keytab: false,
      winbindSecrets: false,
    });
    expect(domain.is_domain_joined).toBe(false);
    expect(domain.kind).toBe("none");
  });

  test("winbind: security = ADS with the machine secrets, workgroup and password server", () => {
    expect(
      linuxDomain({
        smb: fixture("domain", "smb.conf"),
        krb5: fixture("domain", "krb5.conf"),
        keytab: false,
        winbindSecrets: true,
      }),
    ).toEqual({
      is_domain_joined: true,
      domain_name: "corp.example.com",
      workgroup: "CORP",
      domain_controller: "dc01.corp.example.com",
      kind: "winbind",
      realm: "CORP.EXAMPLE.COM",
    });
  });

  test("a Kerberos realm with a host keytab only (adcli, no SSSD or winbind)", () => {
    expect(
      linuxDomain({ krb5: fixture("domain", "krb5.conf"), keytab: true, winbindSecrets: false }),
    ).toMatchObject({
      is_domain_joined: true,
      kind: "kerberos",
      realm: "CORP.EXAMPLE.COM",
    });
  });

  test("nothing configured: not joined, and resolv.conf's search domain is not taken for one", async () => {
    const root = fakeRoot({ "etc/resolv.conf": "search corp.example.com\nnameserver 10.0.0.2\n" });
    const notes: string[] = [];
    expect(await domainLinux(fakeContext(root, {}, notes))).toEqual({
      is_domain_joined: false,
      domain_name: "",
      workgroup: "",
      domain_controller: "",
      kind: "none",
    });
    expect(notes).toEqual([]);
  });

  test("an sssd.conf that cannot be read is named in errors", async () => {
    const root = fakeRoot({ "etc/sssd/sssd.conf/x": "" });
    const notes: string[] = [];
    await domainLinux(fakeContext(root, {}, notes));
    expect(notes).toEqual([expect.stringMatching(/^\/etc\/sssd\/sssd.conf: EISDIR/)]);
  });
});
