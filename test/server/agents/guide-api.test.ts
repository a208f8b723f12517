// The integration guide's curl commands, as written, against the real server on 127.0.0.1, and every way
// a request can be wrong: missing or bad headers, another agent's id, a revoked token, a malformed or huge
// body, re-registration. One open loopback server (no tokens) and one with tokens.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { forEachBackend } from "../../helpers/backends.ts";
import { sampleReport } from "../../helpers/report.ts";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../../helpers/server.ts";

const REGISTER = {
  hostname: "LAPTOP-USER-01",
  os_type: "Windows",
  os_version: "10.0.19045",
  agent_version: "1.0.0",
};

function inventory(agentId: number, overrides: Record<string, unknown> = {}) {
  return {
    agent_id: agentId,
    timestamp: "2026-12-01T10:00:00Z",
    hostname: "LAPTOP-USER-01",
    hardware: { processor: "Intel(R) Core(TM) i7-10510U CPU @ 1.80GHz", ram_gb: 16, total_disk_gb: 476.9 },
    software: {
      total_software: 2,
      installed_software: [
        { name: "Google Chrome", version: "120.0.6099.130", publisher: "Google LLC" },
        { name: "7-Zip 23.01 (x64)", version: "23.01", publisher: "Igor Pavlov" },
      ],
    },
    domain: { is_domain_joined: true, domain_name: "corp.example" },
    ...overrides,
  };
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  body: any;
}

/** curl as the guide runs it; the status comes back on the last line. */
async function curl(args: string[]): Promise<Answer> {
  const proc = Bun.spawn(["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const cut = out.lastIndexOf("\n");
  const text = out.slice(0, cut);
  return { status: Number(out.slice(cut + 1)), body: text ? JSON.parse(text) : null };
}

const post = (url: string, body: unknown, headers: string[] = []) =>
  curl(["-X", "POST", url, "-H", "Content-Type: application/json", ...headers, "-d", JSON.stringify(body)]);

/** The server CLI on `location`: ["--data", dir] or ["--database", url]. */
async function cli(
  location: string[],
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([BUN, join(REPO, "src", "server", "cli.ts"), ...args, ...location], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out, err };
}

forEachBackend((backend) => {
  describe("the guide's API on an open loopback server (no tokens)", () => {
    let server: RunningServer;
    let agentId = 0;
    let token = "";
    let where: string[] = [];
    beforeAll(async () => {
      const args = await backend.serverArgs();
      server = await startServer(args);
      where = args.length ? args : ["--data", server.dataDir];
    });
    afterAll(async () => {
      await server.stop();
    });

    test("register as the guide does: integer agent_id, its own token once", async () => {
      const res = await post(`${server.url}/api/agents/register`, REGISTER);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        success: true,
        agent_id: expect.any(Number),
        message: "Agent registered successfully",
        token: expect.stringMatching(/^rlva_[A-Za-z0-9_-]{43}$/),
      });
      expect(Number.isInteger(res.body.agent_id)).toBe(true);
      agentId = res.body.agent_id;
      token = res.body.token;
    });

    test("inventory with X-Agent-ID as the guide sends it is stored in the day file as a report", async () => {
      const res = await post(`${server.url}/api/inventory`, inventory(agentId), [
        "-H",
        `X-Agent-ID: ${agentId}`,
        "-H",
        "X-Agent-Version: 1.0.0",
      ]);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true, message: "Inventory received", next_report_in: 300 });
      const day = await curl([`${server.url}/query?ip=127.0.0.1`]);
      expect(day.status).toBe(200);
      const [report] = day.body;
      expect(report.agent).toEqual({ version: "1.0.0", id: String(agentId) });
      expect(report.host).toEqual({
        hostname: "LAPTOP-USER-01",
        fqdn: "LAPTOP-USER-01.corp.example",
        ips: ["127.0.0.1"],
      });
      expect(report.os).toMatchObject({ platform: "win32", name: "Windows", version: "10.0.19045" });
      expect(report.cpu.model).toBe("Intel(R) Core(TM) i7-10510U CPU @ 1.80GHz");
      expect(report.memory.total_bytes).toBe(16 * 1024 ** 3);
      expect(report.disks).toEqual([
        { mount: "", fs: "", size_bytes: Math.round(476.9 * 1024 ** 3), used_bytes: 0 },
      ]);
      expect(report.software.items).toEqual([
        {
          name: "7-Zip 23.01 (x64)",
          version: "23.01",
          vendor: "Igor Pavlov",
          arch: "",
          install_date: null,
          size_bytes: null,
          source: "inventory",
        },
        {
          name: "Google Chrome",
          version: "120.0.6099.130",
          vendor: "Google LLC",
          arch: "",
          install_date: null,
          size_bytes: null,
          source: "inventory",
        },
      ]);
      expect(report.software.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(report.domain).toEqual({
        is_domain_joined: true,
        domain_name: "corp.example",
        workgroup: "",
        domain_controller: "",
        kind: "ad",
      });
      expect(report.inventory).toEqual(inventory(agentId));
      // The same software feeds the fleet's tables (stored after the answer: polled).
      let software = await curl([`${server.url}/api/hosts/127.0.0.1/software`]);
      for (let i = 0; i < 50 && software.status !== 200; i++) {
        await Bun.sleep(50);
        software = await curl([`${server.url}/api/hosts/127.0.0.1/software`]);
      }
      expect(software.body).toMatchObject({ hash: report.software.hash, count: 2, current: true });
      const search = await curl([`${server.url}/api/software?name=google%20chrome&version_lt=121`]);
      expect(search.body.hosts).toMatchObject([
        { ip: "127.0.0.1", version: "120.0.6099.130", source: "inventory" },
      ]);
      const hosts = await curl([`${server.url}/hosts`]);
      expect(hosts.body.hosts[0]).toMatchObject({ hostname: "LAPTOP-USER-01", agent_id: String(agentId) });
    });

    test("health says ok for a registered agent, 404 unknown for an id never registered", async () => {
      const ok = await curl([`${server.url}/api/agents/${agentId}/health`]);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ status: "ok", server_time: expect.any(String), message: "Agent is healthy" });
      const unknown = await curl([`${server.url}/api/agents/99999/health`]);
      expect(unknown.status).toBe(404);
      expect(unknown.body.status).toBe("unknown");
      expect((await curl([`${server.url}/api/agents/abc/health`])).status).toBe(400);
    });

    test("update check: no releases yet", async () => {
      const res = await curl([
        `${server.url}/api/updates/check`,
        "-H",
        `X-Agent-ID: ${agentId}`,
        "-H",
        "X-Agent-Version: 1.0.0",
      ]);
      expect(res).toEqual({ status: 200, body: { update_available: false } });
    });

    test("missing or invalid headers, another agent's id, an unknown id: 401 Invalid agent or 400", async () => {
      const url = `${server.url}/api/inventory`;
      const body = inventory(agentId);
      const v = ["-H", "X-Agent-Version: 1.0.0"];
      const noId = await post(url, body, v);
      expect(noId.status).toBe(401);
      expect(noId.body.error).toMatchObject({ code: "invalid_agent", message: "Invalid agent" });
      expect((await post(url, body, [...v, "-H", "X-Agent-ID: abc"])).status).toBe(401);
      expect((await post(url, body, [...v, "-H", "X-Agent-ID: -1"])).status).toBe(401);
      const unknown = await post(url, inventory(424242), [...v, "-H", "X-Agent-ID: 424242"]);
      expect(unknown.status).toBe(401);
      expect(unknown.body.error.message).toBe("Invalid agent");
      const noVersion = await post(url, body, ["-H", `X-Agent-ID: ${agentId}`]);
      expect(noVersion.status).toBe(400);
      expect(noVersion.body.error.code).toBe("bad_agent_version");
      const badVersion = await post(url, body, [
        "-H",
        `X-Agent-ID: ${agentId}`,
        "-H",
        "X-Agent-Version: one",
      ]);
      expect(badVersion.status).toBe(400);
      // The body's agent_id must be the header's.
      const other = await post(url, inventory(agentId + 1), [...v, "-H", `X-Agent-ID: ${agentId}`]);
      expect(other.status).toBe(401);
      expect(other.body.error.details).toEqual([
        { path: "agent_id", message: "agent_id differs from X-Agent-ID" },
      ]);
      // A second agent's token with the first agent's id.
      const second = await post(`${server.url}/api/agents/register`, { ...REGISTER, hostname: "PC-02" });
      const stolen = await post(url, body, [
        ...v,
        "-H",
        `X-Agent-ID: ${agentId}`,
        "-H",
        `Authorization: Bearer ${second.body.token}`,
      ]);
      expect(stolen.status).toBe(401);
      expect(stolen.body.error.details[0].message).toBe("the token belongs to another agent");
    });

    test("a malformed body is 422 with the path of each bad field, never 500", async () => {
      const url = `${server.url}/api/inventory`;
      const h = ["-H", `X-Agent-ID: ${agentId}`, "-H", "X-Agent-Version: 1.0.0"];
      const bad = await post(url, inventory(agentId, { hardware: { ram_gb: "sixteen" }, domain: null }), h);
      expect(bad.status).toBe(422);
      expect(bad.body.error.code).toBe("invalid_inventory");
      expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
        "domain",
        "hardware.ram_gb",
      ]);
      const software = await post(
        url,
        inventory(agentId, { software: { installed_software: [{ version: 1 }] } }),
        h,
      );
      expect(software.status).toBe(422);
      expect(software.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
        "software.installed_software.0.name",
        "software.installed_software.0.version",
      ]);
      const notJson = await curl([
        "-X",
        "POST",
        url,
        ...h,
        "-H",
        "Content-Type: application/json",
        "-d",
        "{nope",
      ]);
      expect(notJson.status).toBe(400);
      const list = await post(url, [inventory(agentId)], h);
      expect(list.status).toBe(422);
      const text = await curl(["-X", "POST", url, ...h, "-H", "Content-Type: text/plain", "-d", "{}"]);
      expect(text.status).toBe(415);
      const badRegister = await post(`${server.url}/api/agents/register`, { hostname: "", os_type: 7 });
      expect(badRegister.status).toBe(422);
      expect(badRegister.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
        "agent_version",
        "hostname",
        "os_type",
        "os_version",
      ]);
    });

    test("a huge installed_software is bounded: 422 past 20,000 entries, 413 past the body limit", async () => {
      const url = `${server.url}/api/inventory`;
      const h = ["-H", `X-Agent-ID: ${agentId}`, "-H", "X-Agent-Version: 1.0.0"];
      const dir = tempDir();
      const many = Array.from({ length: 20_001 }, (_, i) => ({ name: `pkg-${i}`, version: "1.0" }));
      const listFile = join(dir, "many.json");
      await Bun.write(
        listFile,
        JSON.stringify(inventory(agentId, { software: { installed_software: many } })),
      );
      const tooMany = await curl([
        "-X",
        "POST",
        url,
        ...h,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        `@${listFile}`,
      ]);
      expect(tooMany.status).toBe(422);
      expect(tooMany.body.error.details[0].path).toBe("software.installed_software");
      const bigName = "x".repeat(4000);
      const big = Array.from({ length: 2_500 }, () => ({ name: bigName }));
      const bigFile = join(dir, "big.json");
      await Bun.write(bigFile, JSON.stringify(inventory(agentId, { software: { installed_software: big } })));
      const tooBig = await curl([
        "-X",
        "POST",
        url,
        ...h,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        `@${bigFile}`,
      ]);
      expect(tooBig.status).toBe(413);
    });

    test("re-registration of the same machine keeps its id and replaces its token", async () => {
      const again = await post(`${server.url}/api/agents/register`, { ...REGISTER, agent_version: "1.0.1" });
      expect(again.status).toBe(200);
      expect(again.body.agent_id).toBe(agentId);
      expect(again.body.token).not.toBe(token);
      const h = (t: string) => [
        "-H",
        `X-Agent-ID: ${agentId}`,
        "-H",
        "X-Agent-Version: 1.0.1",
        "-H",
        `Authorization: Bearer ${t}`,
      ];
      expect((await post(`${server.url}/api/inventory`, inventory(agentId), h(token))).status).toBe(401);
      expect(
        (await post(`${server.url}/api/inventory`, inventory(agentId), h(again.body.token))).status,
      ).toBe(200);
      token = again.body.token;
      // Same machine id, another hostname: still the same agent.
      const a = await post(`${server.url}/api/agents/register`, {
        ...REGISTER,
        hostname: "SRV-A",
        machine_id: "0f3c9e2ab7d14e2f",
      });
      const b = await post(`${server.url}/api/agents/register`, {
        ...REGISTER,
        hostname: "SRV-A-renamed",
        machine_id: "0f3c9e2ab7d14e2f",
      });
      expect(b.body.agent_id).toBe(a.body.agent_id);
      expect(a.body.agent_id).not.toBe(agentId);
    });

    test("relevo-server agent revoke kills the token at once; health says revoked", async () => {
      const listed = await cli(where, "agent", "list");
      expect(listed.code).toBe(0);
      expect(listed.out).toContain("LAPTOP-USER-01");
      const revoked = await cli(where, "agent", "revoke", String(agentId));
      expect(revoked.code).toBe(0);
      const h = [
        "-H",
        `X-Agent-ID: ${agentId}`,
        "-H",
        "X-Agent-Version: 1.0.1",
        "-H",
        `Authorization: JWT ${token}`,
      ];
      const res = await post(`${server.url}/api/inventory`, inventory(agentId), h);
      expect(res.status).toBe(401);
      expect(res.body.error.message).toBe("Invalid agent");
      expect((await curl([`${server.url}/api/agents/${agentId}/health`])).body.status).toBe("revoked");
      const missing = await cli(where, "agent", "revoke", "999999");
      expect(missing.code).not.toBe(0);
      expect(missing.err).toContain("no agent 999999");
      expect((await cli(where, "agent", "revoke", "x")).code).not.toBe(0);
    });
  });

  describe("with tokens: enroll registers, the agent's own token (Bearer or JWT), read lists", () => {
    let server: RunningServer;
    let enroll = "";
    let read = "";
    let where: string[] = [];
    beforeAll(async () => {
      const dir = tempDir();
      const args = await backend.serverArgs();
      where = args.length ? args : ["--data", dir];
      await cli(where, "token", "list").catch(() => {});
      const e = await cli(where, "token", "create", "--role", "enroll");
      const r = await cli(where, "token", "create", "--role", "read");
      expect(e.code).toBe(0);
      enroll = e.out.trim();
      read = r.out.trim();
      server = await startServer(args, dir);
    });
    afterAll(async () => {
      await server.stop();
    });

    test("registration needs an enroll token", async () => {
      const url = `${server.url}/api/agents/register`;
      expect((await post(url, REGISTER)).status).toBe(401);
      expect((await post(url, REGISTER, ["-H", `Authorization: Bearer ${read}`])).status).toBe(403);
      const ok = await post(url, REGISTER, ["-H", `Authorization: Bearer ${enroll}`]);
      expect(ok.status).toBe(200);
      const id = ok.body.agent_id;
      const agentToken = ok.body.token;

      const h = ["-H", `X-Agent-ID: ${id}`, "-H", "X-Agent-Version: 1.0.0"];
      const noToken = await post(`${server.url}/api/inventory`, inventory(id), h);
      expect(noToken.status).toBe(401);
      const jwt = await post(`${server.url}/api/inventory`, inventory(id), [
        ...h,
        "-H",
        `Authorization: JWT ${agentToken}`,
      ]);
      expect(jwt.status).toBe(200);
      // The enroll token is not an agent's token.
      expect(
        (
          await post(`${server.url}/api/inventory`, inventory(id), [
            ...h,
            "-H",
            `Authorization: Bearer ${enroll}`,
          ])
        ).status,
      ).toBe(401);

      // Health: the agent itself or a read token; nobody else.
      const health = `${server.url}/api/agents/${id}/health`;
      expect((await curl([health])).status).toBe(401);
      expect((await curl([health, "-H", `Authorization: Bearer ${agentToken}`])).body.status).toBe("ok");
      expect((await curl([health, "-H", `Authorization: Bearer ${read}`])).body.status).toBe("ok");
      expect((await curl([health, "-H", `Authorization: Bearer ${enroll}`])).status).toBe(403);

      // The operator's list: read role, filtered by state, paged.
      const second = await post(url, { ...REGISTER, hostname: "PC-02" }, [
        "-H",
        `Authorization: Bearer ${enroll}`,
      ]);
      expect((await curl([`${server.url}/api/agents`])).status).toBe(401);
      const auth = ["-H", `Authorization: Bearer ${read}`];
      const all = await curl([`${server.url}/api/agents`, ...auth]);
      expect(all.status).toBe(200);
      expect(all.body).toMatchObject({ count: 2, total: 2, limit: 100, offset: 0 });
      expect(all.body.agents[0]).toMatchObject({
        id,
        hostname: "LAPTOP-USER-01",
        state: "active",
        health: "ok",
      });
      expect(JSON.stringify(all.body)).not.toContain("token");
      const page = await curl([`${server.url}/api/agents?limit=1&offset=1`, ...auth]);
      expect(page.body.agents.map((a: { id: number }) => a.id)).toEqual([second.body.agent_id]);
      await cli(where, "agent", "revoke", String(second.body.agent_id));
      const revoked = await curl([`${server.url}/api/agents?state=revoked`, ...auth]);
      expect(revoked.body.agents.map((a: { id: number }) => a.id)).toEqual([second.body.agent_id]);
      expect((await curl([`${server.url}/api/agents?state=bogus`, ...auth])).status).toBe(400);
      expect((await curl([`${server.url}/api/agents?limit=0`, ...auth])).status).toBe(400);
      const one = await curl([`${server.url}/api/agents/${id}`, ...auth]);
      expect(one.body).toMatchObject({
        id,
        os_type: "Windows",
        os_version: "10.0.19045",
        last_ip: "127.0.0.1",
      });
      expect((await curl([`${server.url}/api/agents/99999`, ...auth])).status).toBe(404);
    });

    test("the agent's own token uploads a schema-1 report to /upload (ingest)", async () => {
      const ok = await post(`${server.url}/api/agents/register`, { ...REGISTER, hostname: "UPLOADER" }, [
        "-H",
        `Authorization: Bearer ${enroll}`,
      ]);
      const report = sampleReport({ agent: { version: "0.9.3", id: String(ok.body.agent_id) } });
      const res = await post(`${server.url}/upload`, report, [
        "-H",
        `Authorization: Bearer ${ok.body.token}`,
      ]);
      expect(res.status).toBe(201);
      // Heard from: the upload counts as the agent's last word, with the version it reported.
      const one = await curl([
        `${server.url}/api/agents/${ok.body.agent_id}`,
        "-H",
        `Authorization: Bearer ${read}`,
      ]);
      expect(one.body.version).toBe("0.9.3");
    });

    test("an agent's own token cannot upload a report that names another agent: 403, nothing stored", async () => {
      const ok = await post(`${server.url}/api/agents/register`, { ...REGISTER, hostname: "IMPOSTOR" }, [
        "-H",
        `Authorization: Bearer ${enroll}`,
      ]);
      const other = String(Number(ok.body.agent_id) + 1000);
      const report = sampleReport({ agent: { version: "0.9.3", id: other } });
      const upload = (body: unknown) =>
        post(`${server.url}/upload`, body, ["-H", `Authorization: Bearer ${ok.body.token}`]);
      const res = await upload(report);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("agent_mismatch");
      expect(res.body.error.message).toContain(other);
      const query = await curl([`${server.url}/query?ip=127.0.0.1`, "-H", `Authorization: Bearer ${read}`]);
      expect(JSON.stringify(query.body)).not.toContain(report.report_id);
      // Without an id (an agent before enrollment) the token's own agent is assumed.
      expect((await upload(sampleReport({ agent: { version: "0.9.3", id: null } }))).status).toBe(201);
    });
  });
});
