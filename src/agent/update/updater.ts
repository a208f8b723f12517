// When the agent checks for an update: once a day (jittered, the first within the first hours) and when
// the server asks (an `update` command). A verified candidate is handed to `onReady`, which swaps it in
// (plain process) or stages it for the root update unit (systemd). A failure is logged and never stops
// reporting.
import { errorMessage } from "../../shared/errors.ts";
import type { AgentLog } from "../_log.ts";
import { abortableSleep } from "../agent.ts";
import { type Candidate, type CheckResult, checkForUpdate, type UpdateContext } from "./fetch.ts";

const DAY_MS = 86_400_000;

export interface UpdaterOptions {
  context: UpdateContext;
  enabled: boolean;
  log: AgentLog;
  random: () => number;
  /** Installs the candidate; resolves with a line saying what happened. */
  onReady: (candidate: Candidate, commandId: number | null) => Promise<string>;
}

export class Updater {
  #busy: Promise<CheckResult | { kind: "disabled"; message: string }> | null = null;

  constructor(private readonly options: UpdaterOptions) {}

  /** One check (a second call while one runs waits for it). */
  check(commandId: number | null = null): Promise<{ ok: boolean; message: string }> {
    if (!this.options.enabled) {
      const message = "update: self-update is off (--no-auto-update)";
      this.options.log.info(message);
      return Promise.resolve({ ok: false, message });
    }
    this.#busy ??= checkForUpdate(this.options.context)
      .catch((error) => ({
        kind: "failed" as const,
        message: `update: check failed (${errorMessage(error)})`,
      }))
      .finally(() => {
        this.#busy = null;
      });
    return this.#busy.then(async (result) => {
      if (result.kind === "ready") {
        try {
          return { ok: true, message: await this.options.onReady(result.candidate, commandId) };
        } catch (error) {
          const message = `update: installing ${result.candidate.version} failed (${errorMessage(error)})`;
          this.options.log.error(message);
          return { ok: false, message };
        }
      }
      return { ok: result.kind === "none", message: result.message };
    });
  }

  /** Checks once a day until `signal` aborts: the first between 10 minutes and 4 hours after start. */
  async daily(signal: AbortSignal): Promise<void> {
    if (!this.options.enabled) return;
    let wait = 600_000 + this.options.random() * 4 * 3_600_000;
    while (!signal.aborted) {
      await abortableSleep(wait, signal);
      if (signal.aborted) return;
      await this.check();
      wait = DAY_MS * (0.9 + 0.2 * this.options.random());
    }
  }
}
