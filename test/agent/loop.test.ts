import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Agent, type AgentOptions } from "../../src/agent/loop.ts";
import type { Outcome } from "../../src/agent/send.ts";
import { Spool } from "../../src/agent/spool.ts";
import { sampleReport } from "../helpers/report.ts";
import { fakeCollector, recordingLog, tempDir } from "./_helpers.ts";

const delivered: Outcome = { kind: "delivered", status: 201, duplicate: false, nextReportInS: undefined };
const down: Outcome = {
  kind: "retry",
  status: undefined,
  reason: "cannot reach the server",
  retryAfterMs: undefined,
};
const refused = (status: number): Outcome => ({
  kind: "rejected",
  status,
  code: "c",
  message: `refused ${status}`,
});

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** An agent with a fake collector, a scripted server, a hand-moved clock and a real spool in a temp dir. */
async function setup(options: Partial<AgentOptions> = {}) {
  const dir = tempDir("relevo-loop-");
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const log = recordingLog();
  const clock = { t: 1_000_000 };
  const spool = await Spool.open({
    dir: join(dir, "spool"),
    maxReports: 100,
    maxBytes: 1e8,
    now: () => clock.t,
    log,
  });
  cleanup.push(() => spool.close());
  const collector = fakeCollector();
  /** What the "server" answers next; the last answer repeats. */
  const answers: Outcome[] = [delivered];
  const sent: string[] = [];
  const sentLogs: string[] = [];
  const agent = new Agent({
    collector,
    spool,
    intervalMs: 60_000,
    now: () => clock.t,
    random: () => 0.5,
    sleep: async (ms) => {
      clock.t += ms;
    },
    log,
    backoff: { baseMs: 1_000, maxMs: 30_000 },
    async send(body) {
      const answer = answers.length > 1 ? (answers.shift() as Outcome) : (answers[0] as Outcome);
      sent.push(
        JSON.parse(new TextDecoder().decode(Bun.gunzipSync(body as Uint8Array<ArrayBuffer>))).report_id,
      );
      return answer;
    },
    async sendLogs(body) {
      const answer = answers.length > 1 ? (answers.shift() as Outcome) : (answers[0] as Outcome);
      const batch = JSON.parse(new TextDecoder().decode(Bun.gunzipSync(body as Uint8Array<ArrayBuffer>)));
      sentLogs.push(...batch.map((e: { entry_id: string }) => e.entry_id));
      return answer;
    },
    ...options,
  });
  const signal = new AbortController().signal;
  return { agent, spool, collector, answers, sent, sentLogs, clock, log, signal };
}

describe("Agent.cycle", () => {
  test("spooled log batches go to sendLogs (POST /logs), reports to send, oldest first, once", async () => {
    const { agent, spool, collector, sent, sentLogs, signal } = await setup();
    const batch = (ids: string[]) =>
      Bun.gzipSync(JSON.stringify(ids.map((entry_id) => ({ entry_id, message: "m" }))));
    await spool.add("l1", batch(["l1", "l2"]), "logs");
    await Spool.handOff(spool.options.dir, "l3", batch(["l3"]), "logs", Date.now());
    expect(await agent.cycle(signal)).toMatchObject({ report: "delivered" });
    expect(sentLogs).toEqual(["l1", "l2", "l3"]);
    expect(sent).toEqual(collector.ids);
    expect(spool.size).toBe(0);
  });

  test("delivers a report straight away when the server answers", async () => {
    const { agent, spool, collector, sent, signal } = await setup();
    expect(await agent.cycle(signal)).toMatchObject({ report: "delivered", status: 201 });
    expect(sent).toEqual(collector.ids);
    expect(spool.size).toBe(0);
  });

  test("keeps reports in the spool while the server is away, then sends them oldest first before the new one", async () => {
    const { agent, spool, collector, answers, sent, clock, signal } = await setup();
    answers.splice(0, answers.length, down);
    for (let i = 0; i < 3; i++) {
      expect((await agent.cycle(signal)).report).toBe("spooled");
      clock.t += 60_000;
    }
    expect(spool.size).toBe(3);
    answers.splice(0, answers.length, delivered);
    expect((await agent.cycle(signal)).report).toBe("delivered");
    expect(spool.size).toBe(0);
    // The first try of report 1 failed; the later ones waited out the backoff in the spool.
    const afterOutage = sent.slice(sent.lastIndexOf(collector.ids[0] as string));
    expect(afterOutage).toEqual(collector.ids);
  });

  test("does not knock while backing off: reports go straight to the spool until the next try is due", async () => {
    const { agent, answers, sent, clock, signal } = await setup();
    answers.splice(0, answers.length, down);
    await agent.cycle(signal); // fails: next try in 0.5..1 s
    expect(sent).toHaveLength(1);
    await agent.cycle(signal); // same instant: no try
    expect(sent).toHaveLength(1);
    clock.t += 1_000;
    await agent.cycle(signal); // due: tries the oldest spooled report, fails again
    expect(sent).toHaveLength(2);
  });

  test("a 4xx is not retried: the report is dropped with the server's message", async () => {
    const { agent, spool, answers, sent, log, signal } = await setup();
    answers.splice(0, answers.length, refused(422));
    expect(await agent.cycle(signal)).toMatchObject({ report: "rejected", status: 422 });
    expect(sent).toHaveLength(1);
    expect(spool.size).toBe(0);
    expect(log.lines.some((l) => l.startsWith("error") && l.includes("refused 422"))).toBe(true);
    answers.splice(0, answers.length, delivered);
    await agent.cycle(signal);
    expect(sent).toHaveLength(2); // the refused report never came back
  });

  test("a spooled report the server refuses is dropped, and the queue moves on", async () => {
    const { agent, spool, answers, sent, collector, clock, signal } = await setup();
    answers.splice(0, answers.length, down);
    await agent.cycle(signal);
    await agent.cycle(signal);
    expect(spool.size).toBe(2);
    answers.splice(0, answers.length, refused(413), delivered);
    clock.t += 60_000;
    expect((await agent.cycle(signal)).report).toBe("delivered");
    expect(spool.size).toBe(0);
    expect(sent.slice(-3)).toEqual(collector.ids);
  });

  test("401/403 keep the spooled reports, and the new one, for when the token is fixed", async () => {
    const { agent, spool, answers, clock, signal } = await setup();
    answers.splice(0, answers.length, down);
    await agent.cycle(signal);
    clock.t += 60_000;
    answers.splice(0, answers.length, refused(401));
    expect((await agent.cycle(signal)).report).toBe("spooled");
    expect(spool.size).toBe(2);
    answers.splice(0, answers.length, delivered);
    clock.t += 60_000;
    expect((await agent.cycle(signal)).report).toBe("delivered");
    expect(spool.size).toBe(0);
  });

  test("a 401 with an empty spool keeps the report too (a revoked token loses nothing)", async () => {
    const { agent, spool, answers, signal } = await setup();
    answers.splice(0, answers.length, refused(403));
    expect((await agent.cycle(signal)).report).toBe("spooled");
    expect(spool.size).toBe(1);
  });

  test("a report that fails the schema is neither sent nor spooled", async () => {
    const { agent, spool, sent, signal } = await setup({
      collector: fakeCollector(() => ({ ...sampleReport(), schema_version: 2 as 1 })),
    });
    expect((await agent.cycle(signal)).report).toBe("invalid");
    expect(sent).toHaveLength(0);
    expect(spool.size).toBe(0);
  });

  test("a stop during collection spools the report instead of sending it", async () => {
    const { agent, spool, sent } = await setup();
    const controller = new AbortController();
    controller.abort();
    expect((await agent.cycle(controller.signal)).report).toBe("spooled");
    expect(sent).toHaveLength(0);
    expect(spool.size).toBe(1);
  });
});

describe("Agent timing", () => {
  test("the interval gets up to 10 % jitter", async () => {
    for (const [random, want] of [
      [0, 60_000],
      [0.5, 63_000],
      [0.999, 65_994],
    ] as const) {
      const { agent } = await setup({ random: () => random });
      expect(agent.nextIntervalMs()).toBeCloseTo(want, 0);
    }
  });

  test("the server's next_report_in replaces the interval", async () => {
    const { agent, answers, signal } = await setup({ random: () => 0 });
    answers.splice(0, answers.length, { ...delivered, nextReportInS: 30 } as Outcome);
    await agent.cycle(signal);
    expect(agent.nextIntervalMs()).toBe(30_000);
    answers.splice(0, answers.length, delivered);
    await agent.cycle(signal);
    expect(agent.nextIntervalMs()).toBe(60_000);
  });

  // [failures, random, Retry-After, want]: base 1 s doubling, capped at 30 s (below the 60 s interval),
  // the upper half of it random.
  const backoff: [number, number, number | undefined, number][] = [
    [1, 0, undefined, 500],
    [1, 1, undefined, 1_000],
    [2, 1, undefined, 2_000],
    [3, 0.5, undefined, 3_000],
    [5, 1, undefined, 16_000],
    [6, 1, undefined, 30_000],
    [40, 1, undefined, 30_000],
    [40, 0, undefined, 15_000],
    [1, 1, 7_000, 7_000],
    [1, 1, 3_600_000, 900_000],
  ];
  for (const [failures, random, retryAfter, want] of backoff) {
    test(`backoff after ${failures} failures (random ${random}, Retry-After ${retryAfter}) is ${want} ms`, async () => {
      const { agent } = await setup({ random: () => random });
      expect(agent.backoffMs(failures, retryAfter)).toBe(want);
    });
  }

  test("the backoff never waits longer than the report interval", async () => {
    const { agent } = await setup({ random: () => 1, intervalMs: 5_000 });
    expect(agent.backoffMs(20)).toBe(5_000);
  });

  test("run: collects every interval, retries the spool in between while the server is away", async () => {
    const controller = new AbortController();
    const ctx = await setup();
    const { agent, answers, collector, spool, clock } = ctx;
    answers.splice(0, answers.length, down);
    const start = clock.t;
    const original = collector.collect.bind(collector);
    collector.collect = async () => {
      // Five minutes in, the server comes back; at ten minutes, stop.
      if (clock.t - start >= 300_000) answers.splice(0, answers.length, delivered);
      if (clock.t - start >= 600_000) controller.abort();
      return original();
    };
    await agent.run(controller.signal);
    expect(collector.ids.length).toBeGreaterThanOrEqual(9);
    expect(collector.ids.length).toBeLessThanOrEqual(11);
    // The last report was collected while stopping and kept; all the others were delivered.
    expect(spool.size).toBe(1);
    expect(ctx.sent.filter((id) => id !== collector.ids.at(-1)).sort()).toEqual(
      expect.arrayContaining(collector.ids.slice(0, -1).sort()),
    );
  });
});

describe("Agent.run when a step throws", () => {
  test("logs it and carries on instead of ending the agent", async () => {
    const controller = new AbortController();
    let calls = 0;
    const ctx = await setup({
      async send() {
        calls++;
        if (calls === 1) throw new Error("boom");
        if (calls >= 3) controller.abort();
        return delivered;
      },
    });
    await ctx.agent.run(controller.signal);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(ctx.log.lines.some((l) => l.includes("agent step failed (1 in a row): boom"))).toBe(true);
  });
});

describe("Agent.run between reports", () => {
  test("gives memory back after each report, before waiting", async () => {
    const controller = new AbortController();
    const events: string[] = [];
    const ctx = await setup({
      afterReport: () => {
        events.push("after");
        if (events.filter((event) => event === "after").length === 3) controller.abort();
      },
      sleep: async (ms) => {
        events.push("sleep");
        ctx.clock.t += ms;
      },
    });
    await ctx.agent.run(controller.signal);
    expect(ctx.collector.ids).toHaveLength(3);
    expect(events.slice(0, 4)).toEqual(["after", "sleep", "after", "sleep"]);
  });
});
