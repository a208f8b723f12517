// Alerts on the real server with a webhook receiver on 127.0.0.1: fire, repeat suppression, resolve, a
// receiver that is down then back, and a restart in the middle (state and undelivered deliveries survive).
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Report } from "../../../src/shared/report.ts";
import { sampleReport } from "../../helpers/report.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../../helpers/server.ts";

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** A webhook receiver that can be stopped and started again on the same port. */
class Receiver {
  readonly received: Received[] = [];
  readonly port = freePort();
  #server: ReturnType<typeof Bun.serve> | null = null;

  start(): void {
    this.#server = Bun.serve({
      hostname: "127.0.0.1",
      port: this.port,
      fetch: async (req) => {
        this.received.push({
          path: new URL(req.url).pathname,
          body: (await req.json()) as Record<string, unknown>,
        });
        return new Response("ok");
      },
    });
  }

  stop(): void {
    this.#server?.stop(true);
    this.#server = null;
  }

  of(path: string, status?: string): Received[] {
    return this.received.filter((r) => r.path === path && (!status || r.body.status === status));
  }

  async waitFor(count: () => number, atLeast: number, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (count() < atLeast && Date.now() < deadline) await Bun.sleep(50);
    expect(count()).toBeGreaterThanOrEqual(atLeast);
  }
}

const receivers: Receiver[] = [];
const servers: RunningServer[] = [];
afterAll(async () => {
  for (const server of servers) if (server.proc.exitCode === null) await server.stop();
  for (const receiver of receivers) receiver.stop();
});

function rulesFile(dir: string, receiver: Receiver, rules: unknown[]): string {
  const file = join(dir, "..", `${dir.split("/").at(-1)}-alerts.json`);
  writeFileSync(
    file,
    JSON.stringify({
      evaluate_every: "200ms",
      retry: { attempts: 50, initial: "100ms", max: "400ms" },
      webhooks: [
        { name: "ops", url: `http://127.0.0.1:${receiver.port}/json` },
        { name: "chat", url: `http://127.0.0.1:${receiver.port}/slack`, format: "slack" },
      ],
      rules,
    }),
  );
  return file;
}

const CPU_RULE = {
  name: "cpu-high",
  type: "threshold",
  field: "cpu.load_percent",
  op: ">",
  value: 90,
  severity: "critical",
};

async function upload(server: RunningServer, ip: string, overrides: Partial<Report>): Promise<void> {
  const base = sampleReport();
  const res = await fetch(`${server.url}/upload`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify({ ...base, ...overrides }),
  });
  expect(res.status).toBe(201);
}

const cpu = (load: number): Partial<Report> => ({ cpu: { ...sampleReport().cpu, load_percent: load } });

async function alerts(server: RunningServer) {
  return (await (await fetch(`${server.url}/api/alerts`)).json()) as {
    firing: { rule: string; subject: string; message: string }[];
    recent: { rule: string; subject: string; resolved_at: string }[];
  };
}

async function start(dir: string, file: string): Promise<RunningServer> {
  const server = await startServer(["--alerts", file, "--trust-proxy", "127.0.0.1", "--no-auth"], dir);
  servers.push(server);
  return server;
}

test("fires once for a breach (json and slack bodies), suppresses repeats, resolves", async () => {
  const receiver = new Receiver();
  receivers.push(receiver);
  receiver.start();
  const dir = tempDir();
  const server = await start(dir, rulesFile(dir, receiver, [CPU_RULE]));

  await upload(server, "10.1.0.1", cpu(95));
  await receiver.waitFor(() => receiver.of("/json", "firing").length, 1);
  await receiver.waitFor(() => receiver.of("/slack").length, 1);
  const fired = receiver.of("/json", "firing")[0]?.body;
  expect(fired).toMatchObject({
    version: 1,
    rule: "cpu-high",
    severity: "critical",
    subject: "10.1.0.1",
    value: 95,
  });
  expect(String(fired?.message)).toContain("cpu.load_percent is 95");
  expect(String(receiver.of("/slack")[0]?.body.text)).toContain("cpu-high on");

  // Still breaching: nothing new is sent. Another host breaching is its own alert.
  await upload(server, "10.1.0.1", cpu(99));
  await upload(server, "10.1.0.2", cpu(50));
  await Bun.sleep(600);
  expect(receiver.of("/json").length).toBe(1);
  expect((await alerts(server)).firing.map((a) => a.subject)).toEqual(["10.1.0.1"]);

  await upload(server, "10.1.0.1", cpu(20));
  await receiver.waitFor(() => receiver.of("/json", "resolved").length, 1);
  expect(receiver.of("/json", "resolved")[0]?.body).toMatchObject({ rule: "cpu-high", subject: "10.1.0.1" });
  const after = await alerts(server);
  expect(after.firing).toEqual([]);
  expect(after.recent[0]).toMatchObject({ rule: "cpu-high", subject: "10.1.0.1" });
  expect(receiver.of("/json").length).toBe(2);
}, 30_000);

test("a receiver that is down gets the alert once it is back (retries with backoff)", async () => {
  const receiver = new Receiver();
  receivers.push(receiver);
  const dir = tempDir();
  const server = await start(dir, rulesFile(dir, receiver, [CPU_RULE]));
  await upload(server, "10.2.0.1", cpu(95));
  await Bun.sleep(800);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  expect(metrics).toMatch(/relevo_alert_deliveries_total\{outcome="failed_attempt"\} [1-9]/);
  expect(metrics).toMatch(/^relevo_alert_deliveries_pending 2$/m);
  receiver.start();
  await receiver.waitFor(() => receiver.of("/json", "firing").length, 1);
  await receiver.waitFor(() => receiver.of("/slack").length, 1);
  await Bun.sleep(500);
  // Delivered once each, not once per failed attempt.
  expect(receiver.of("/json").length).toBe(1);
}, 30_000);

test("a restart in the middle: firing state and an undelivered alert survive; no repeat", async () => {
  const receiver = new Receiver();
  receivers.push(receiver);
  receiver.start();
  const dir = tempDir();
  const file = rulesFile(dir, receiver, [CPU_RULE, { name: "collectors", type: "collector_errors" }]);
  let server = await start(dir, file);
  await upload(server, "10.3.0.1", cpu(95));
  await receiver.waitFor(() => receiver.of("/json", "firing").length, 1);

  // Down receiver while a second alert fires; then the server stops before it could deliver it.
  receiver.stop();
  await upload(server, "10.3.0.1", { ...cpu(96), errors: [{ collector: "disks", message: "timed out" }] });
  await Bun.sleep(400);
  expect(await server.stop()).toBe(0);

  receiver.start();
  server = await start(dir, file);
  await receiver.waitFor(() => receiver.of("/json", "firing").length, 2);
  expect(receiver.of("/json", "firing").map((r) => r.body.rule)).toEqual(["cpu-high", "collectors"]);
  // Still breaching after the restart: cpu-high was firing before it, so nothing is sent again.
  await upload(server, "10.3.0.1", { ...cpu(97), errors: [{ collector: "disks", message: "timed out" }] });
  await Bun.sleep(600);
  expect(receiver.of("/json", "firing").length).toBe(2);
  expect((await alerts(server)).firing.map((a) => a.rule).sort()).toEqual(["collectors", "cpu-high"]);

  await upload(server, "10.3.0.1", { ...cpu(10), errors: [] });
  await receiver.waitFor(() => receiver.of("/json", "resolved").length, 2);
  expect(
    receiver
      .of("/json", "resolved")
      .map((r) => r.body.rule)
      .sort(),
  ).toEqual(["collectors", "cpu-high"]);
}, 40_000);

test("a host silent past N intervals fires on the timer and resolves with its next report", async () => {
  const receiver = new Receiver();
  receivers.push(receiver);
  receiver.start();
  const dir = tempDir();
  const server = await start(
    dir,
    rulesFile(dir, receiver, [{ name: "quiet", type: "silent", intervals: 2, interval: "500ms" }]),
  );
  await upload(server, "10.4.0.1", {});
  await Bun.sleep(300);
  expect(receiver.of("/json").length).toBe(0);
  await receiver.waitFor(() => receiver.of("/json", "firing").length, 1);
  expect(receiver.of("/json", "firing")[0]?.body).toMatchObject({ rule: "quiet", subject: "10.4.0.1" });
  await upload(server, "10.4.0.1", {});
  await receiver.waitFor(() => receiver.of("/json", "resolved").length, 1);
}, 30_000);

test("a log severity rate fires on the timer", async () => {
  const receiver = new Receiver();
  receivers.push(receiver);
  receiver.start();
  const dir = tempDir();
  const rule = {
    name: "errors",
    type: "log_rate",
    severity_at_least: "ERROR",
    count: 3,
    window: "1m",
    service: "billing",
  };
  const server = await start(dir, rulesFile(dir, receiver, [rule]));
  const entries = (severity: string, n: number, service = "billing") =>
    Array.from({ length: n }, (_, i) => ({
      timestamp: new Date().toISOString(),
      service,
      severity,
      message: `m${i}`,
    }));
  const post = async (body: unknown) => {
    const res = await fetch(`${server.url}/logs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBeLessThan(300);
  };
  // Below the bound, other severities and other services do not count.
  await post([...entries("ERROR", 2), ...entries("INFO", 10), ...entries("CRITICAL", 5, "other")]);
  await Bun.sleep(600);
  expect(receiver.of("/json").length).toBe(0);
  await post(entries("CRITICAL", 1));
  await receiver.waitFor(() => receiver.of("/json", "firing").length, 1);
  expect(receiver.of("/json", "firing")[0]?.body).toMatchObject({
    rule: "errors",
    subject: "billing",
    value: 3,
  });
}, 30_000);

test("a webhook that never answers holds neither uploads nor the server's stop", async () => {
  const hanging = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Promise<Response>(() => {}) });
  try {
    const dir = tempDir();
    const file = join(dir, "..", `${dir.split("/").at(-1)}-hang.json`);
    writeFileSync(
      file,
      JSON.stringify({
        webhooks: [{ name: "ops", url: `http://127.0.0.1:${hanging.port}/` }],
        rules: [CPU_RULE, { name: "collectors", type: "collector_errors" }],
      }),
    );
    const server = await start(dir, file);
    const started = performance.now();
    for (let i = 0; i < 10; i++) {
      await upload(server, `10.5.0.${i + 1}`, { ...cpu(95), errors: [{ collector: "disks", message: "x" }] });
    }
    const uploadMs = performance.now() - started;
    expect(uploadMs).toBeLessThan(5_000);
    await Bun.sleep(300);
    expect((await alerts(server)).firing.length).toBe(20);
    const stopping = performance.now();
    expect(await server.stop()).toBe(0);
    expect(performance.now() - stopping).toBeLessThan(5_000);
  } finally {
    hanging.stop(true);
  }
}, 30_000);
