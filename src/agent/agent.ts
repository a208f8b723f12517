// `relevo-agent run` once its settings are known: opens the spool, builds the sender and the loop, and runs
// until the signal aborts (or once). Everything from the outside world (clock, randomness, the collector,
// the CA's text) comes in through `AgentEdges`, so tests run it in-process with fakes.
import { VERSION } from "../shared/version.ts";
import type { AgentLog } from "./_log.ts";
import { releaseMemory } from "./_memory.ts";
import { Agent, type CycleResult, type ReportSource } from "./loop.ts";

export type { Agent };

import { createSender } from "./send.ts";
import { type AgentSettings, logsUrlOf } from "./settings.ts";
import { Spool } from "./spool.ts";

export interface AgentEdges {
  collector: ReportSource;
  now: () => number;
  random: () => number;
  /** PEM text of the private CA (read by the command from settings.caFile). */
  ca?: string | undefined;
  log: AgentLog;
  fetch?: typeof fetch;
  backoff?: { baseMs: number; maxMs: number };
  /** After each report of a long run; by default gives memory back (releaseMemory). */
  afterReport?: () => void | Promise<void>;
  /** When a new report was delivered. */
  onDelivered?: () => void | Promise<void>;
  /** Runs beside a long run's loop (the command poll, the daily update check) until `signal` aborts. */
  companion?: (agent: Agent, signal: AbortSignal) => Promise<unknown>;
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      done();
    }
    signal.addEventListener("abort", finish, { once: true });
  });
}

/**
 * Runs the agent. With `once`, one collection and delivery (spool first), and its result; otherwise until
 * `signal` aborts, then undefined. The collector is closed and the spool lock released on the way out.
 */
export async function runAgent(
  settings: AgentSettings & { uploadUrl: URL },
  edges: AgentEdges,
  options: { once: boolean; signal: AbortSignal },
): Promise<CycleResult | undefined> {
  const { log } = edges;
  let spool: Spool | undefined;
  try {
    spool = await Spool.open({
      dir: settings.spoolDir,
      maxReports: settings.spoolMaxReports,
      maxBytes: settings.spoolMaxBytes,
      now: edges.now,
      log,
    });
    const sender = (url: URL) =>
      createSender({
        url,
        token: settings.token,
        timeoutMs: settings.timeoutS * 1000,
        ca: edges.ca,
        userAgent: `relevo-agent/${VERSION}`,
        now: edges.now,
        fetch: edges.fetch,
      });
    const send = sender(settings.uploadUrl);
    const sendLogs = sender(logsUrlOf(settings.uploadUrl));
    const agent = new Agent({
      collector: edges.collector,
      spool,
      send,
      sendLogs,
      intervalMs: settings.intervalS * 1000,
      now: edges.now,
      random: edges.random,
      sleep: abortableSleep,
      log,
      backoff: edges.backoff,
      once: options.once,
      afterReport: edges.afterReport ?? releaseMemory,
      onDelivered: edges.onDelivered,
    });
    if (options.once) return await agent.cycle(options.signal);
    log.info(
      `relevo-agent ${VERSION} reporting to ${settings.uploadUrl.href} every ${settings.intervalS} s (spool ${settings.spoolDir})`,
    );
    const beside = edges.companion?.(agent, options.signal).catch((error: unknown) => {
      log.error(`agent companion failed: ${error instanceof Error ? error.message : String(error)}`);
    });
    await agent.run(options.signal);
    await beside;
    log.info("stopping");
    return undefined;
  } finally {
    await Promise.resolve(edges.collector.close()).catch(() => {});
    await spool?.close();
  }
}
