// Several real relevo-servers on one real PostgreSQL, as behind a load balancer: uploads alternating between
// them, a retry through the other server, tokens, logs and agents seen by both; kill -9 of one server under
// load; PostgreSQL stopped and restarted under load (503, never a 500, never an acknowledgement lost, back by
// itself); the statement timeout; a newer schema refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SQL } from "bun";
import { jsonOf } from "../helpers/json.ts";
import {
  databaseName,
  PG_PASSWORD,
  type PgCluster,
  postgresMissing,
  startPostgres,
} from "../helpers/postgres.ts";
import { sampleReport } from "../helpers/report.ts";
import { BUN, REPO, type RunningServer, startServer } from "../helpers/server.ts";

const missing = postgresMissing();
let pg: PgCluster;
const running: RunningServer[] = [];

beforeAll(async () => {
  if (!missing) pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  for (const server of running.splice(0)) await server.stop("SIGKILL");
  await pg?.stop();
});

const ct = { "content-type": "application/json" };

async function servers(count: number, url: string, extra: string[] = []): Promise<RunningServer[]> {
  // Started together: their migrations race for the advisory lock.
  const started = await Promise.all(
    Array.from({ length: count }, () => startServer(["--database", url, "--rate-limit", "0", ...extra])),
  );
  running.push(...started);
  return started;
}

async function upload(server: RunningServer, body: string): Promise<number> {
  try {
    const res = await fetch(`${server.url}/upload`, { method: "POST", headers: ct, body });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function storedIds(server: RunningServer): Promise<string[]> {
  const res = await fetch(`${server.url}/query?ip=127.0.0.1`);
  if (res.status === 404) return [];
  return ((await jsonOf(res)) as Array<{ report_id: string }>).map((r) => r.report_id);
}

/** Until `check` holds or `ms` pass. */
async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await Bun.sleep(50);
  }
  return check();
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([BUN, join(REPO, "src", "server", "cli.ts"), ...args], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out, err };
}

describe.skipIf(missing !== null)(
  `servers on one PostgreSQL${missing ? ` (skipped: ${missing})` : ""}`,
  () => {
    test("uploads alternating between two servers: either sees everything once; a retry through the other is a duplicate", async () => {
      const url = await pg.createDatabase(databaseName("two"));
      const [a, b] = (await servers(2, url)) as [RunningServer, RunningServer];
      const reports = Array.from({ length: 60 }, () => sampleReport());
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < reports.length; i = next++) {
            expect(await upload(i % 2 ? b : a, JSON.stringify(reports[i]))).toBe(201);
          }
        }),
      );
      const sent = reports.map((r) => r.report_id).sort();
      for (const server of [a, b]) expect((await storedIds(server)).sort()).toEqual(sent);
      for (const path of ["/query?ip=127.0.0.1", "/files", "/hosts"]) {
        const [onA, onB] = await Promise.all(
          [a, b].map(async (s) => (await fetch(`${s.url}${path}`)).text()),
        );
        expect(onB).toBe(onA as string);
      }
      // The agent's retry after a lost answer from A reaches B: stored once.
      const retry = await fetch(`${b.url}/upload`, {
        method: "POST",
        headers: ct,
        body: JSON.stringify(reports[0]),
      });
      expect(retry.status).toBe(200);
      expect((await jsonOf(retry)).duplicate).toBe(true);
      expect(await storedIds(a)).toHaveLength(60);
      // Logs written through A are read through B.
      const log = { timestamp: "2026-12-01T10:00:00Z", service: "api", severity: "INFO", message: "via A" };
      expect(
        (await fetch(`${a.url}/logs`, { method: "POST", headers: ct, body: JSON.stringify(log) })).status,
      ).toBe(201);
      expect((await jsonOf(await fetch(`${b.url}/logs`))).logs[0].message).toBe("via A");
      // An agent registered through A sends its inventory through B.
      const reg = await jsonOf(
        await fetch(`${a.url}/api/agents/register`, {
          method: "POST",
          headers: ct,
          body: JSON.stringify({
            hostname: "h1",
            os_type: "Linux",
            os_version: "12",
            agent_version: "1.0.0",
          }),
        }),
      );
      const inv = await fetch(`${b.url}/api/inventory`, {
        method: "POST",
        headers: {
          ...ct,
          authorization: `Bearer ${reg.token}`,
          "x-agent-id": String(reg.agent_id),
          "x-agent-version": "1.0.0",
        },
        body: JSON.stringify({
          agent_id: reg.agent_id,
          timestamp: "2026-12-01T10:00:00Z",
          hostname: "h1",
          hardware: { processor: "cpu", ram_gb: 4, total_disk_gb: 20 },
          software: { total_software: 0, installed_software: [] },
          domain: { is_domain_joined: false },
        }),
      });
      expect(inv.status).toBe(200);
      expect((await jsonOf(await fetch(`${a.url}/api/agents/${reg.agent_id}`))).last_ip).toBe("127.0.0.1");
      // A token made with the CLI on the database reaches both servers at once (NOTIFY), and so does its revocation.
      const made = await cli("token", "create", "--role", "read", "--database", url);
      expect(made.code).toBe(0);
      const token = made.out.trim();
      const status = (s: RunningServer, auth?: string) =>
        fetch(`${s.url}/files`, auth ? { headers: { authorization: `Bearer ${auth}` } } : {}).then(
          (r) => r.status,
        );
      for (const s of [a, b]) {
        expect(await eventually(async () => (await status(s)) === 401)).toBe(true);
        expect(await status(s, token)).toBe(200);
      }
      expect((await cli("token", "revoke", "read-1", "--database", url)).code).toBe(0);
      for (const s of [a, b])
        expect(await eventually(async () => (await status(s, token)) === 401)).toBe(true);
      for (const s of [a, b]) expect(s.stderr()).not.toContain(PG_PASSWORD);
      expect(made.err).not.toContain(PG_PASSWORD);
    });

    test("a command queued on A reaches the agent polling B at once; a revocation on the database cuts B's poll", async () => {
      const url = await pg.createDatabase(databaseName("cmd"));
      const [a, b] = (await servers(2, url)) as [RunningServer, RunningServer];
      const reg = await jsonOf(
        await fetch(`${a.url}/api/agents/register`, {
          method: "POST",
          headers: ct,
          body: JSON.stringify({
            hostname: "h2",
            os_type: "Linux",
            os_version: "12",
            agent_version: "1.0.0",
          }),
        }),
      );
      const poll = (server: RunningServer) =>
        fetch(`${server.url}/api/agents/${reg.agent_id}/commands?wait=30`, {
          headers: {
            authorization: `Bearer ${reg.token}`,
            "x-agent-id": String(reg.agent_id),
            "x-agent-version": "1.0.0",
          },
        });
      const waiting = poll(b);
      await Bun.sleep(300);
      const started = performance.now();
      const queued = await fetch(`${a.url}/api/agents/${reg.agent_id}/collect`, { method: "POST" });
      expect(queued.status).toBe(202);
      const answer = await jsonOf(await waiting);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(answer.commands.map((c: { kind: string }) => c.kind)).toEqual(["collect"]);
      // The outcome posted through A shows on B.
      const id = answer.commands[0].id;
      const done = await fetch(`${a.url}/api/agents/${reg.agent_id}/commands/${id}`, {
        method: "POST",
        headers: {
          ...ct,
          authorization: `Bearer ${reg.token}`,
          "x-agent-id": String(reg.agent_id),
          "x-agent-version": "1.0.0",
        },
        body: JSON.stringify({ state: "done", message: "sent" }),
      });
      expect(done.status).toBe(200);
      expect((await jsonOf(await fetch(`${b.url}/api/agents/${reg.agent_id}`))).commands[0]).toMatchObject({
        state: "done",
      });
      // Revoked with the CLI on the database while polling B: cut off at once.
      const second = poll(b);
      await Bun.sleep(300);
      const cutAt = performance.now();
      expect((await cli("agent", "revoke", String(reg.agent_id), "--database", url)).code).toBe(0);
      expect((await second).status).toBe(401);
      expect(performance.now() - cutAt).toBeLessThan(5_000);
    });

    test("kill -9 of one server under load: every acknowledged report is stored exactly once", async () => {
      const url = await pg.createDatabase(databaseName("kill"));
      const [a, b] = (await servers(2, url)) as [RunningServer, RunningServer];
      const reports = Array.from({ length: 240 }, () => JSON.stringify(sampleReport()));
      const acked = new Set<string>();
      let next = 0;
      let killed = false;
      await Promise.all(
        Array.from({ length: 16 }, async (_, worker) => {
          for (let i = next++; i < reports.length; i = next++) {
            const body = reports[i] as string;
            // Like an agent behind a load balancer: a failed attempt goes again, through whichever server is up.
            for (let attempt = 0; ; attempt++) {
              const target = killed || (worker + attempt) % 2 ? b : a;
              const code = await upload(target, body);
              expect([0, 200, 201]).toContain(code);
              if (code === 200 || code === 201) {
                acked.add(JSON.parse(body).report_id);
                break;
              }
            }
            if (acked.size === 80 && !killed) {
              killed = true;
              a.proc.kill("SIGKILL");
            }
          }
        }),
      );
      await a.proc.exited;
      const ids = await storedIds(b);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(reports.length);
      for (const id of acked) expect(ids).toContain(id);
    });

    test("PostgreSQL stopped and restarted under load: 503 meanwhile, never 500, nothing acknowledged lost, back by itself", async () => {
      const url = await pg.createDatabase(databaseName("restart"));
      const [a] = (await servers(1, url)) as [RunningServer];
      const reports = Array.from({ length: 200 }, () => JSON.stringify(sampleReport()));
      const acked = new Set<string>();
      const seen = new Map<number, number>();
      let next = 0;
      const load = Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < reports.length; i = next++) {
            const body = reports[i] as string;
            for (;;) {
              const code = await upload(a, body);
              seen.set(code, (seen.get(code) ?? 0) + 1);
              if (code === 200 || code === 201) {
                acked.add(JSON.parse(body).report_id);
                break;
              }
              // The agent spools and tries again later.
              await Bun.sleep(20);
            }
          }
        }),
      );
      await eventually(async () => acked.size >= 40, 20_000);
      await pg.stopNow();
      // Down: uploads and health say so, the server stays up.
      expect(await upload(a, JSON.stringify(sampleReport()))).toBe(503);
      const health = await jsonOf(await fetch(`${a.url}/health`));
      expect(health.status).toBe("degraded");
      await Bun.sleep(500);
      await pg.start();
      await load;
      expect(a.proc.exitCode).toBeNull();
      expect([...seen.keys()].every((code) => code === 200 || code === 201 || code === 503)).toBe(true);
      expect(seen.get(503) ?? 0).toBeGreaterThan(0);
      const ids = await storedIds(a);
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of acked) expect(ids).toContain(id);
      expect(acked.size).toBe(reports.length);
      expect((await jsonOf(await fetch(`${a.url}/health`))).status).toBe("ok");
    }, 60_000);

    test("the statement timeout bounds a write held up by a lock: 503, then stored once the lock goes", async () => {
      const url = await pg.createDatabase(databaseName("timeout"));
      const [a] = (await servers(1, url, ["--database-statement-timeout", "1"])) as [RunningServer];
      expect(await upload(a, JSON.stringify(sampleReport()))).toBe(201);
      const sql = new SQL({ url, max: 1 });
      const conn = await sql.reserve();
      try {
        await conn`BEGIN`;
        await conn`LOCK TABLE report_days IN ACCESS EXCLUSIVE MODE`;
        const started = Date.now();
        const body = JSON.stringify(sampleReport());
        expect(await upload(a, body)).toBe(503);
        expect(Date.now() - started).toBeLessThan(5_000);
        await conn`COMMIT`;
        expect(await upload(a, body)).toBe(201);
      } finally {
        conn.release();
        await sql.close();
      }
    });

    test("flags that do not apply to PostgreSQL are refused with the reason", async () => {
      const url = await pg.createDatabase(databaseName("flags"));
      for (const [flag, why] of [
        [["--fsync", "never"], "synchronous_commit"],
        [["--logs-max-bytes", "1000000"], "VACUUM"],
        [
          ["--archive-url", "s3://bucket/days", "--archive-logs"],
          "--archive-logs does not go with --database",
        ],
      ] as const) {
        const proc = Bun.spawn(
          [BUN, join(REPO, "src/server/cli.ts"), "serve", "--port", "0", "--database", url, ...flag],
          {
            stdout: "ignore",
            stderr: "pipe",
            env: {
              ...process.env,
              AWS_ACCESS_KEY_ID: "relevo-test",
              AWS_SECRET_ACCESS_KEY: "relevo-test-secret",
            },
          },
        );
        const err = await new Response(proc.stderr).text();
        expect(await proc.exited).not.toBe(0);
        expect(err).toContain(why);
      }
    });

    test("a server older than the database's schema refuses to start, saying why", async () => {
      const url = await pg.createDatabase(databaseName("newer"));
      const [a] = (await servers(1, url)) as [RunningServer];
      await a.stop();
      const sql = new SQL({ url, max: 1 });
      await sql`INSERT INTO relevo_schema (version, name, applied_at) VALUES (99, 'later', now())`;
      await sql.close();
      const proc = Bun.spawn(
        [BUN, join(REPO, "src/server/cli.ts"), "serve", "--port", "0", "--database", url],
        {
          stdout: "ignore",
          stderr: "pipe",
        },
      );
      const err = await new Response(proc.stderr).text();
      expect(await proc.exited).not.toBe(0);
      expect(err).toContain("schema version 99, newer than this relevo-server knows");
      expect(err).not.toContain(PG_PASSWORD);
    });
  },
);
