// The agent's one outbound long-poll (GET /api/agents/{id}/commands?wait=55): nothing listens on the host.
// A `collect` command makes the loop report now; `update` makes the updater check now; each outcome is
// posted back. Failures reconnect with backoff and jitter (1 s doubling to 60 s; 5 minutes while the
// server refuses the token; 30 s when a newer poll of the same agent replaced this one).
import * as v from "valibot";
import { type AgentCommand, CommandsAnswerSchema } from "../shared/agents.ts";
import { errorMessage } from "../shared/errors.ts";
import { VERSION } from "../shared/version.ts";
import type { AgentLog } from "./_log.ts";
import { abortableSleep } from "./agent.ts";
import type { CycleResult } from "./loop.ts";

export const POLL_WAIT_S = 55;

export interface PollOptions {
  base: URL;
  agentId: number;
  token: string | undefined;
  ca: string | undefined;
  log: AgentLog;
  random: () => number;
  collectNow: () => Promise<CycleResult>;
  update: (commandId: number) => Promise<{ ok: boolean; message: string } | null>;
  fetch?: typeof fetch;
}

type Connection = Pick<PollOptions, "base" | "agentId" | "token" | "ca" | "log" | "fetch">;

function headers(options: Connection): Record<string, string> {
  return {
    "x-agent-id": String(options.agentId),
    "x-agent-version": VERSION,
    "user-agent": `relevo-agent/${VERSION}`,
    "content-type": "application/json",
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
}

export async function postOutcome(
  options: Connection,
  id: number,
  ok: boolean,
  message: string,
): Promise<void> {
  const doFetch = options.fetch ?? fetch;
  try {
    const url = new URL(`api/agents/${options.agentId}/commands/${id}`, options.base);
    await doFetch(url, {
      method: "POST",
      headers: headers(options),
      body: JSON.stringify({ state: ok ? "done" : "failed", message: message.slice(0, 1024) }),
      signal: AbortSignal.timeout(30_000),
      ...(options.ca ? { tls: { ca: options.ca } } : {}),
    });
  } catch (error) {
    options.log.debug(`command ${id}: outcome not posted (${errorMessage(error)})`);
  }
}

export async function act(options: PollOptions, command: AgentCommand): Promise<void> {
  const { log } = options;
  if (command.kind === "collect") {
    log.info(`command ${command.id}: the server asks for a report now`);
    const result = await options.collectNow();
    const ok = result.report === "delivered";
    const message = ok ? `report ${result.reportId} delivered` : `report not delivered (${result.report})`;
    await postOutcome(options, command.id, ok, message);
    return;
  }
  log.info(`command ${command.id}: the server asks for an update check`);
  const outcome = await options.update(command.id);
  // null: the outcome is posted once the new version's trial is over.
  if (outcome) await postOutcome(options, command.id, outcome.ok, outcome.message);
}

/** Polls until `signal` aborts. */
export async function pollCommands(options: PollOptions, signal: AbortSignal): Promise<void> {
  const { log } = options;
  const doFetch = options.fetch ?? fetch;
  let failures = 0;
  const url = new URL(`api/agents/${options.agentId}/commands?wait=${POLL_WAIT_S}`, options.base);
  while (!signal.aborted) {
    let waitMs = 0;
    try {
      const response = await doFetch(url, {
        headers: headers(options),
        signal: AbortSignal.any([signal, AbortSignal.timeout((POLL_WAIT_S + 30) * 1000)]),
        ...(options.ca ? { tls: { ca: options.ca } } : {}),
      });
      if (response.ok) {
        const parsed = v.safeParse(CommandsAnswerSchema, await response.json());
        if (!parsed.success)
          throw new Error(`the server's commands are not valid (${v.summarize(parsed.issues)})`);
        if (failures) log.info("commands: connected again");
        failures = 0;
        for (const command of parsed.output.commands) await act(options, command);
        continue;
      }
      await response.body?.cancel();
      failures++;
      if (response.status === 401 || response.status === 403) {
        waitMs = 300_000;
        log.warn(
          `commands: the server refuses this agent's token (${response.status}); trying again in 5 minutes`,
        );
      } else if (response.status === 409) {
        waitMs = 30_000;
        log.warn("commands: another poll of this agent replaced this one (two agents with one identity?)");
      } else if (response.status === 404) {
        waitMs = 3_600_000;
        log.info("commands: this server takes no commands; asking again in an hour");
      } else throw new Error(`the server answered ${response.status}`);
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      const cap = Math.min(60_000, 1_000 * 2 ** Math.min(failures - 1, 10));
      waitMs = cap / 2 + (cap / 2) * options.random();
      const say = failures === 1 ? "warn" : "debug";
      log[say](
        `commands: poll failed (${errorMessage(error)}); reconnecting in ${(waitMs / 1000).toFixed(1)} s`,
      );
    }
    await abortableSleep(waitMs, signal);
  }
}
