// The software and service lists on the server, through the real app (app.request) over a real file store
// and relevo.db: stored from uploads, confirmed by hash-only reports, replaced (with the changes recorded)
// when the hash changes, searched across hosts by version; every parameter checked; a failure to store the
// lists never fails the upload.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../../../src/server/app.ts";
import { createToken, TokenRegistry } from "../../../src/server/auth/tokens.ts";
import type { Report, SoftwareItem } from "../../../src/shared/report.ts";
import { forEachBackend, type Opened, type TestBackend } from "../../helpers/backends.ts";
import { jsonOf } from "../../helpers/json.ts";
import { sampleReport } from "../../helpers/report.ts";
import { tempDir } from "../../helpers/server.ts";

const open: Opened[] = [];
afterEach(async () => {
  for (const opened of open.splice(0)) await opened.close();
});
// The same tests on relevo.db and on PostgreSQL.
let backend: TestBackend;

let clock = new Date("2026-11-23T12:00:00Z");

async function setup(auth?: "required") {
  const dir = tempDir();
  const opened = await backend.open({ clock: () => clock });
  open.push(opened);
  const { store, software } = opened;
  const registry = auth ? new TokenRegistry(dir, 0) : null;
  const app = createApp({
    store,
    version: "test",
    clock: () => clock,
    software,
    ...(registry && { auth: { mode: "required" as const, registry } }),
  });
  const call = (path: string, init: RequestInit = {}, ip = "127.0.0.1") => app.request(path, init, { ip });
  const upload = async (report: Report, ip = "192.0.2.10") => {
    const res = await call(
      "/upload",
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(report) },
      ip,
    );
    await software.idle();
    return res;
  };
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  const get = async (path: string, init?: RequestInit): Promise<{ status: number; body: any }> => {
    const res = await call(path, init);
    return { status: res.status, body: await jsonOf(res) };
  };
  return { dir, app, software, exec: opened.exec, upload, get, call };
}

const pkg = (name: string, version: string, source = "dpkg", arch = "amd64"): SoftwareItem => ({
  name,
  version,
  vendor: "Debian",
  arch,
  install_date: null,
  size_bytes: 1024,
  source,
});

const BEFORE = [pkg("openssl", "3.0.2-0ubuntu1.10"), pkg("curl", "7.81.0-1"), pkg("telnet", "0.17-44")];
const AFTER = [pkg("openssl", "3.0.13-0ubuntu3.4"), pkg("curl", "7.81.0-1"), pkg("nginx", "1.24.0-2")];

const withLists = (hash: string, items: SoftwareItem[] | undefined, at = clock) =>
  sampleReport({
    collected_at: at.toISOString(),
    software: { hash, ...(items && { items }) },
    services: {
      hash: `svc-${hash}`,
      ...(items && {
        items: [
          {
            name: "ssh.service",
            display_name: "OpenBSD Secure Shell server",
            state: "active",
            sub_state: "running",
            start_mode: "enabled",
            account: "root",
            pid: 812,
          },
        ],
      }),
    },
  });

forEachBackend((each) => {
  beforeAll(() => {
    backend = each;
    // Each backend's run starts at the same time, as the first did.
    clock = new Date("2026-11-23T12:00:00Z");
  });

  describe("a host's lists", () => {
    test("stored from a report with items, confirmed by one with the hash only, behind when the hash is new", async () => {
      const { upload, get } = await setup();
      expect((await get("/api/hosts/192.0.2.10/software")).status).toBe(404);
      expect((await upload(withLists("h1", BEFORE))).status).toBe(201);
      const first = await get("/api/hosts/192.0.2.10/software");
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({
        ip: "192.0.2.10",
        hash: "h1",
        count: 3,
        current: true,
        changed_at: "2026-11-23T12:00:00.000Z",
      });
      expect(first.body.items).toEqual(BEFORE);

      clock = new Date("2026-11-23T12:05:00Z");
      await upload(withLists("h1", undefined));
      const confirmed = await get("/api/hosts/192.0.2.10/software");
      expect(confirmed.body).toMatchObject({
        hash: "h1",
        current: true,
        changed_at: "2026-11-23T12:00:00.000Z",
        seen_at: "2026-11-23T12:05:00.000Z",
      });
      expect(confirmed.body.items).toEqual(BEFORE);

      clock = new Date("2026-11-23T12:10:00Z");
      await upload(withLists("h2", undefined));
      expect((await get("/api/hosts/192.0.2.10/software")).body).toMatchObject({
        hash: "h1",
        current: false,
      });

      const services = await get("/api/hosts/192.0.2.10/services");
      expect(services.status).toBe(200);
      expect(services.body.items.map((service: { name: string }) => service.name)).toEqual(["ssh.service"]);
    });

    test("a new list replaces the old one and its installs, upgrades and removals are recorded", async () => {
      const { upload, get } = await setup();
      clock = new Date("2026-11-23T12:00:00Z");
      await upload(withLists("h1", BEFORE));
      clock = new Date("2026-11-23T13:00:00Z");
      await upload(withLists("h2", AFTER));
      const list = await get("/api/hosts/192.0.2.10/software");
      expect(list.body).toMatchObject({ hash: "h2", current: true, changed_at: "2026-11-23T13:00:00.000Z" });
      expect(list.body.items).toEqual(AFTER);
      const changes = await get("/api/software/changes?since=2026-11-23T00:00:00Z");
      expect(changes.status).toBe(200);
      expect(changes.body.truncated).toBe(false);
      const summary = changes.body.changes.map((c: Record<string, unknown>) => [
        c.change,
        c.name,
        c.old_version,
        c.new_version,
      ]);
      expect(summary.sort()).toEqual(
        [
          ["installed", "nginx", null, "1.24.0-2"],
          ["removed", "telnet", "0.17-44", null],
          ["upgraded", "openssl", "3.0.2-0ubuntu1.10", "3.0.13-0ubuntu3.4"],
        ].sort(),
      );
      expect(changes.body.changes[0]).toMatchObject({ ip: "192.0.2.10", at: "2026-11-23T13:00:00.000Z" });
      // Pages: one change at a time, then from after the last id.
      const page = await get("/api/software/changes?since=2026-11-23T00:00:00Z&limit=1");
      expect(page.body).toMatchObject({ count: 1, truncated: true });
      const next = await get(
        `/api/software/changes?since=2026-11-23T00:00:00Z&limit=5&after=${page.body.changes[0].id}`,
      );
      expect(next.body.count).toBe(2);
      expect((await get("/api/software/changes?since=2026-11-23T14:00:00Z")).body.count).toBe(0);
    });

    test("the first list of a host is a baseline, not a burst of installs", async () => {
      const { upload, get } = await setup();
      await upload(withLists("h1", BEFORE));
      expect((await get("/api/software/changes?since=2000-01-01T00:00:00Z")).body.changes).toEqual([]);
    });

    test("a spooled report older than the stored list changes nothing", async () => {
      const { upload, get } = await setup();
      await upload(withLists("h2", AFTER, new Date("2026-11-23T13:00:00Z")));
      await upload(withLists("h1", BEFORE, new Date("2026-11-23T12:00:00Z")));
      expect((await get("/api/hosts/192.0.2.10/software")).body).toMatchObject({ hash: "h2", current: true });
    });
  });

  describe("GET /api/software", () => {
    test("which hosts have a package, at which version; version_lt by the package manager's ordering", async () => {
      const { upload, get } = await setup();
      await upload(withLists("a", [pkg("openssl", "3.0.2-0ubuntu1.10")]), "192.0.2.10");
      await upload(withLists("b", [pkg("openssl", "3.0.13-0ubuntu3.4")]), "192.0.2.11");
      await upload(withLists("c", [pkg("openssl", "1:3.0.7-27.el9", "rpm", "x86_64")]), "192.0.2.12");
      await upload(withLists("d", [pkg("OpenSSL", "3.0.8", "registry", "x64")]), "192.0.2.13");
      const all = await get("/api/software?name=openssl");
      expect(all.status).toBe(200);
      expect(all.body.hosts.map((host: { ip: string; version: string }) => [host.ip, host.version])).toEqual([
        ["192.0.2.10", "3.0.2-0ubuntu1.10"],
        ["192.0.2.11", "3.0.13-0ubuntu3.4"],
        ["192.0.2.12", "1:3.0.7-27.el9"],
        ["192.0.2.13", "3.0.8"],
      ]);
      const old = await get("/api/software?name=openssl&version_lt=3.0.8");
      // 3.0.13 is newer than 3.0.8 (numbers, not text); the epoch 1 makes the RPM newer; 3.0.8 is not below itself.
      expect(old.body).toMatchObject({ name: "openssl", version_lt: "3.0.8", count: 1 });
      expect(old.body.hosts[0]).toMatchObject({
        ip: "192.0.2.10",
        source: "dpkg",
        arch: "amd64",
        user: null,
      });
      expect((await get("/api/software?name=nothing-like-it")).body).toMatchObject({ count: 0, hosts: [] });
    });
  });

  describe("parameters", () => {
    const cases: [string, string, number][] = [
      ["/api/software", "name", 400],
      ["/api/software?name=", "name", 400],
      [`/api/software?name=${"x".repeat(257)}`, "name", 400],
      ["/api/software?name=a&name=b", "name", 400],
      ["/api/software?name=a&version=1", "version", 400],
      ["/api/software?name=a&version_lt=", "version_lt", 400],
      ["/api/software?name=a&limit=0", "limit", 400],
      ["/api/software?name=a&limit=ten", "limit", 400],
      ["/api/software/changes", "since", 400],
      ["/api/software/changes?since=yesterday", "since", 400],
      ["/api/software/changes?since=2026-13-45T00:00:00Z", "since", 400],
      ["/api/software/changes?since=2026-11-23T00:00:00Z&after=-1", "after", 400],
      ["/api/hosts/not-an-ip/software", "ip", 400],
      ["/api/hosts/192.0.2.10/software?full=1", "full", 400],
      ["/api/hosts/10.0.0.999/services", "ip", 400],
    ];
    for (const [path, name, status] of cases) {
      test(`${path.slice(0, 60)} → ${status} naming ${name}`, async () => {
        const { get } = await setup();
        const res = await get(path);
        expect(res.status).toBe(status);
        expect(res.body.error.code).toBe("bad_parameter");
        expect(res.body.error.details).toEqual([{ path: name, message: expect.any(String) }]);
      });
    }

    test("IPv6 hosts in either spelling", async () => {
      const { upload, get } = await setup();
      await upload(withLists("h1", BEFORE), "2001:db8::7");
      expect((await get("/api/hosts/2001:db8::7/software")).status).toBe(200);
      expect((await get("/api/hosts/2001-db8--7/software")).status).toBe(200);
    });

    test("the read role is needed", async () => {
      const { dir, get } = await setup("required");
      const read = createToken(dir, "read", "ops", new Date()).token;
      const ingest = createToken(dir, "ingest", "agents", new Date()).token;
      expect((await get("/api/software?name=openssl")).status).toBe(401);
      const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
      expect((await get("/api/software?name=openssl", as(ingest))).status).toBe(403);
      expect((await get("/api/software?name=openssl", as(read))).status).toBe(200);
      expect((await get("/api/software/changes?since=2026-01-01T00:00:00Z", as(read))).status).toBe(200);
    });

    test("the welcome lists the endpoints", async () => {
      const { get } = await setup();
      expect((await get("/")).body.endpoints).toEqual(
        expect.arrayContaining([
          "GET /api/hosts/{ip}/software",
          "GET /api/software?name=&version_lt=",
          "GET /api/software/changes?since=",
        ]),
      );
    });
  });

  test("lists that cannot be stored are logged and counted; the upload still succeeds and is in its day file", async () => {
    const { upload, software, exec, call } = await setup();
    await exec("DROP TABLE host_software");
    const report = withLists("h1", BEFORE);
    const res = await upload(report);
    expect(res.status).toBe(201);
    expect(software.failures).toBe(1);
    const day = await call("/query?ip=192.0.2.10");
    expect(((await day.json()) as { report_id: string }[]).map((r) => r.report_id)).toEqual([
      report.report_id,
    ]);
  });
});
