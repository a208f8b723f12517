// Software and service lists on the wire: against the real server on 127.0.0.1, a changed list is sent once
// and then only its hash, and the server still answers what is installed; the gate's rules (start, daily,
// refused or spooled reports) on their own with a clock in hand.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { softwareSection } from "../../src/agent/collect/software.ts";
import { InventoryGate } from "../../src/agent/inventory-gate.ts";
import { Agent } from "../../src/agent/loop.ts";
import { createSender } from "../../src/agent/send.ts";
import { Spool } from "../../src/agent/spool.ts";
import type { Report, SoftwareItem } from "../../src/shared/report.ts";
import { sampleReport } from "../helpers/report.ts";
import { type RunningServer, startServer } from "../helpers/server.ts";
import { recordingLog, tempDir } from "./_helpers.ts";

const servers: RunningServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
});

const pkg = (name: string, version: string): SoftwareItem => ({
  name,
  version,
  vendor: "Debian",
  arch: "amd64",
  install_date: null,
  size_bytes: 4096,
  source: "dpkg",
});

function reportWith(items: SoftwareItem[]): Report {
  return sampleReport({
    collected_at: new Date().toISOString(),
    software: softwareSection(structuredClone(items)),
    services: { hash: "services-1", items: [] },
  });
}

// biome-ignore lint/suspicious/noExplicitAny: stored reports are checked field by field
async function stored(url: string): Promise<any[]> {
  const res = await fetch(`${url}/query?ip=127.0.0.1`);
  return res.status === 404 ? [] : ((await res.json()) as unknown[]);
}

describe("against the real server", () => {
  test("a changed package list is sent once, then only its hash; the server keeps the list", async () => {
    const server = await startServer(["--rate-limit", "0"]);
    servers.push(server);
    const log = recordingLog();
    const spool = await Spool.open({
      dir: join(tempDir("relevo-spool-"), "spool"),
      maxReports: 100,
      maxBytes: 10_000_000,
      now: Date.now,
      log,
    });
    let items = [pkg("openssl", "3.0.2-0ubuntu1.10"), pkg("curl", "7.81.0-1")];
    const send = createSender({
      url: new URL(`${server.url}/upload`),
      timeoutMs: 5_000,
      userAgent: "test",
      now: Date.now,
    });
    const agent = new Agent({
      collector: { collect: async () => reportWith(items), close() {} },
      spool,
      send,
      sendLogs: send,
      intervalMs: 1_000,
      now: Date.now,
      random: Math.random,
      sleep: async () => {},
      log,
    });
    const signal = new AbortController().signal;
    try {
      for (let i = 0; i < 2; i++) expect((await agent.cycle(signal)).report).toBe("delivered");
      items = [pkg("openssl", "3.0.13-0ubuntu3.4"), pkg("curl", "7.81.0-1")];
      for (let i = 0; i < 3; i++) expect((await agent.cycle(signal)).report).toBe("delivered");
      const reports = await stored(server.url);
      expect(reports.map((report) => report.software.items?.length ?? 0)).toEqual([2, 0, 2, 0, 0]);
      expect(reports.map((report) => "items" in report.software)).toEqual([true, false, true, false, false]);
      expect(reports[1].software.hash).toBe(reports[0].software.hash);
      expect(reports[4].software.hash).toBe(reports[2].software.hash);
      expect(reports[2].software.hash).not.toBe(reports[0].software.hash);

      // The server answers from its own table after the hash-only reports.
      let list: { items: SoftwareItem[]; hash: string; current: boolean } | undefined;
      for (let i = 0; i < 50 && list?.hash !== reports[4].software.hash; i++) {
        const res = await fetch(`${server.url}/api/hosts/127.0.0.1/software`);
        if (res.status === 200) list = (await res.json()) as typeof list;
        else await Bun.sleep(50);
      }
      expect(list).toMatchObject({ hash: reports[4].software.hash, current: true });
      expect(list?.items.map((item) => [item.name, item.version])).toEqual([
        ["curl", "7.81.0-1"],
        ["openssl", "3.0.13-0ubuntu3.4"],
      ]);
      const changes = (await (
        await fetch(`${server.url}/api/software/changes?since=2000-01-01T00:00:00Z`)
      ).json()) as {
        changes: { change: string; name: string; old_version: string; new_version: string }[];
      };
      expect(changes.changes).toMatchObject([
        {
          change: "upgraded",
          name: "openssl",
          old_version: "3.0.2-0ubuntu1.10",
          new_version: "3.0.13-0ubuntu3.4",
        },
      ]);
    } finally {
      await spool.close();
    }
  }, 30_000);
});

test("after an outage, the spooled report carries the list and the next one only its hash", async () => {
  const log = recordingLog();
  let clock = 1_000_000;
  const spool = await Spool.open({
    dir: join(tempDir("relevo-spool-"), "spool"),
    maxReports: 100,
    maxBytes: 10_000_000,
    now: () => clock,
    log,
  });
  const sent: { items: boolean; id: string }[] = [];
  let up = false;
  const agent = new Agent({
    collector: { collect: async () => reportWith([pkg("openssl", "3.0.2-0ubuntu1.10")]), close() {} },
    spool,
    send: async (body) => {
      const report = JSON.parse(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(body)))) as Report;
      sent.push({ items: report.software?.items !== undefined, id: report.report_id });
      return up
        ? { kind: "delivered", status: 201, duplicate: false, nextReportInS: undefined }
        : { kind: "retry", status: undefined, reason: "connection refused", retryAfterMs: undefined };
    },
    sendLogs: async () => ({ kind: "delivered", status: 201, duplicate: false, nextReportInS: undefined }),
    intervalMs: 1_000,
    now: () => clock,
    random: () => 0.5,
    sleep: async () => {},
    log,
  });
  const signal = new AbortController().signal;
  try {
    expect((await agent.cycle(signal)).report).toBe("spooled");
    up = true;
    clock += 600_000;
    expect((await agent.cycle(signal)).report).toBe("delivered");
    expect((await agent.cycle(signal)).report).toBe("delivered");
    // Tried and spooled with items; delivered from the spool; then the new reports with the hash only.
    expect(sent.map((one) => one.items)).toEqual([true, true, false, false]);
    expect(sent[1]?.id).toBe(sent[0]?.id as string);
  } finally {
    await spool.close();
  }
});

describe("InventoryGate", () => {
  const report = (hash: string) =>
    sampleReport({ software: { hash, items: [pkg("a", "1")] }, services: { hash: `s${hash}`, items: [] } });

  test("items after a start, then the hash only once delivered; again after a day", () => {
    let now = 0;
    const gate = new InventoryGate(() => now);
    const first = report("h1");
    expect(gate.shape(first).software?.items).toHaveLength(1);
    // Not acknowledged yet (spooled): the next report still carries the items.
    const second = report("h1");
    expect(gate.shape(second).software?.items).toHaveLength(1);
    gate.delivered(second.report_id);
    const third = gate.shape(report("h1"));
    expect(third.software).toEqual({ hash: "h1" });
    expect(third.services).toEqual({ hash: "sh1" });
    now = 86_400_000;
    expect(gate.shape(report("h1")).software?.items).toHaveLength(1);
  });

  test("a report the server refused does not count as delivered", () => {
    const gate = new InventoryGate(() => 0);
    const refused = report("h1");
    gate.shape(refused);
    gate.dropped(refused.report_id);
    gate.delivered(refused.report_id);
    expect(gate.shape(report("h1")).software?.items).toHaveLength(1);
  });

  test("a spooled report with items, delivered later, counts from then on", () => {
    const gate = new InventoryGate(() => 0);
    const spooled = report("h2");
    gate.shape(spooled);
    gate.delivered(spooled.report_id);
    expect(gate.shape(report("h2")).software).toEqual({ hash: "h2" });
    expect(gate.shape(report("h3")).software?.items).toHaveLength(1);
  });

  test("a report without lists passes unchanged", () => {
    const gate = new InventoryGate(() => 0);
    const plain = sampleReport();
    expect(gate.shape(plain)).toBe(plain);
  });
});
