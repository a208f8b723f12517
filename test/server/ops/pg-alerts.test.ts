// Alerts with several relevo-servers on one real PostgreSQL and a webhook receiver on 127.0.0.1: a breach
// heard by both servers (even at the same instant) is announced once, resolved once, repeats suppressed; the
// timed rules run on one server at a time and the other takes over when it is killed; a restart keeps state.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import type { Report } from "../../../src/shared/report.ts";
import { databaseName, type PgCluster, postgresMissing, startPostgres } from "../../helpers/postgres.ts";
import { sampleReport } from "../../helpers/report.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../../helpers/server.ts";

const missing = postgresMissing();
let pg: PgCluster;
const running: RunningServer[] = [];
let receiver: ReturnType<typeof Bun.serve> | null = null;
const received: { path: string; body: Record<string, unknown> }[] = [];
const receiverPort = freePort();

beforeAll(async () => {
  if (missing) return;
  pg = await startPostgres();
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: receiverPort,
    fetch: async (req) => {
      received.push({ path: new URL(req.url).pathname, body: (await req.json()) as Record<string, unknown> });
      return new Response("ok");
    },
  });
}, 60_000);
afterAll(async () => {
  for (const server of running.splice(0)) if (server.proc.exitCode === null) await server.stop("SIGKILL");
  receiver?.stop(true);
  await pg?.stop();
});

function rulesFile(rules: unknown[]): string {
  const file = join(tempDir(), "alerts.json");
  writeFileSync(
    file,
    JSON.stringify({
      evaluate_every: "200ms",
      retry: { attempts: 50, initial: "100ms", max: "400ms" },
      webhooks: [{ name: "ops", url: `http://127.0.0.1:${receiverPort}/json` }],
      rules,
    }),
  );
  return file;
}

async function serve(url: string, file: string): Promise<RunningServer> {
  const server = await startServer([
    "--database",
    url,
    "--alerts",
    file,
    "--trust-proxy",
    "127.0.0.1",
    "--no-auth",
    "--rate-limit",
    "0",
  ]);
  running.push(server);
  return server;
}

async function upload(server: RunningServer, ip: string, overrides: Partial<Report> = {}): Promise<void> {
  const res = await fetch(`${server.url}/upload`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify({ ...sampleReport(), ...overrides }),
  });
  expect(res.status).toBe(201);
}

const cpu = (load: number): Partial<Report> => ({ cpu: { ...sampleReport().cpu, load_percent: load } });

/** Notifications for `subject`, by status. */
function of(subject: string, status?: string): Record<string, unknown>[] {
  return received
    .filter((r) => r.body.subject === subject && (!status || r.body.status === status))
    .map((r) => r.body);
}

async function waitFor(count: () => number, atLeast: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (count() < atLeast && Date.now() < deadline) await Bun.sleep(50);
  expect(count()).toBeGreaterThanOrEqual(atLeast);
}

async function firing(server: RunningServer): Promise<string[]> {
  const res = await fetch(`${server.url}/api/alerts`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { firing: { rule: string; subject: string }[] };
  return body.firing.map((row) => `${row.rule}/${row.subject}`).sort();
}

/** Sessions holding the evaluator's lock now. */
async function leaders(url: string): Promise<number> {
  const sql = new SQL({ url, max: 1 });
  try {
    const [row] = await sql`SELECT count(*)::int AS n FROM pg_locks
      WHERE locktype = 'advisory' AND classid = 0 AND objid = ${0x72656c61} AND granted`;
    return Number(row.n);
  } finally {
    await sql.close();
  }
}

const CPU_RULE = { name: "cpu-high", type: "threshold", field: "cpu.load_percent", op: ">", value: 90 };

describe.skipIf(missing !== null)(`alerts on PostgreSQL${missing ? ` (skipped: ${missing})` : ""}`, () => {
  test("two servers: one notification per transition, repeats suppressed, state kept across a restart", async () => {
    const url = await pg.createDatabase(databaseName("alerts"));
    const file = rulesFile([CPU_RULE]);
    const [a, b] = await Promise.all([serve(url, file), serve(url, file)]);
    if (!a || !b) throw new Error("servers did not start");

    // The same breach through both servers, at the same instant and then again and again.
    await Promise.all([upload(a, "10.9.0.1", cpu(95)), upload(b, "10.9.0.1", cpu(97))]);
    await upload(b, "10.9.0.1", cpu(99));
    await upload(a, "10.9.0.1", cpu(96));
    await waitFor(() => of("10.9.0.1", "firing").length, 1);
    await Bun.sleep(1_000);
    expect(of("10.9.0.1").length).toBe(1);
    expect(await firing(a)).toEqual(["cpu-high/10.9.0.1"]);
    expect(await firing(b)).toEqual(["cpu-high/10.9.0.1"]);

    // Resolved through the server that did not announce it, once, even when both hear the recovery.
    await Promise.all([upload(b, "10.9.0.1", cpu(10)), upload(a, "10.9.0.1", cpu(12))]);
    await waitFor(() => of("10.9.0.1", "resolved").length, 1);
    // Fires again (a new transition: one more notification), then both servers stop.
    await upload(a, "10.9.0.1", cpu(95));
    await waitFor(() => of("10.9.0.1", "firing").length, 2);
    await Bun.sleep(800);
    expect(of("10.9.0.1", "firing").length).toBe(2);
    expect(of("10.9.0.1", "resolved").length).toBe(1);
    await a.stop();
    await b.stop();

    // A new server on the same database knows the alert fires: a repeat is not announced, a recovery is.
    const c = await serve(url, file);
    expect(await firing(c)).toEqual(["cpu-high/10.9.0.1"]);
    await upload(c, "10.9.0.1", cpu(98));
    await Bun.sleep(800);
    expect(of("10.9.0.1", "firing").length).toBe(2);
    await upload(c, "10.9.0.1", cpu(5));
    await waitFor(() => of("10.9.0.1", "resolved").length, 2);
    expect(await firing(c)).toEqual([]);
    await c.stop();
  }, 60_000);

  test("one evaluator at a time; the other takes over the silence rule when it is killed", async () => {
    const url = await pg.createDatabase(databaseName("leader"));
    const file = rulesFile([{ name: "quiet", type: "silent", intervals: 2, interval: "1s" }]);
    const a = await serve(url, file);
    const deadline = Date.now() + 5_000;
    while ((await leaders(url)) === 0 && Date.now() < deadline) await Bun.sleep(100);
    expect(await leaders(url)).toBe(1);
    const b = await serve(url, file);
    await Bun.sleep(600);
    // B tried and was refused: still one holder.
    expect(await leaders(url)).toBe(1);

    // A host reports through B, then A (the evaluator) dies before the silence is long enough.
    await upload(b, "10.9.1.1");
    expect(await a.stop("SIGKILL")).not.toBe(0);
    await waitFor(() => of("10.9.1.1", "firing").length, 1);
    expect(of("10.9.1.1", "firing")[0]).toMatchObject({ rule: "quiet", subject: "10.9.1.1" });
    expect(await leaders(url)).toBe(1);
    await Bun.sleep(800);
    expect(of("10.9.1.1").length).toBe(1);
    await upload(b, "10.9.1.1");
    await waitFor(() => of("10.9.1.1", "resolved").length, 1);
    await b.stop();
    // Stopped cleanly: the lock is given back.
    expect(await leaders(url)).toBe(0);
  }, 60_000);
});
