// The agents' open long-polls, in memory, one per agent: a newer poll replaces the older (answered
// "replaced" at once), so a poll whose connection died unseen never locks its agent out. A poll ends on its
// time or its request's abort (no commands), or when finished (commands, revoked, closing). Shared by the
// relevo.db and PostgreSQL command hubs, which differ only in where the queue is kept.
import type { AgentCommand } from "../../shared/agents.ts";

export type PollEnd =
  | { kind: "commands"; commands: AgentCommand[] }
  | { kind: "replaced" }
  | { kind: "revoked" }
  | { kind: "closing" };

export interface Waiter {
  agentId: number;
  finish: (end: PollEnd) => void;
}

export class OpenPolls {
  readonly #waiting = new Map<number, Waiter>();

  get size(): number {
    return this.#waiting.size;
  }

  has(agentId: number): boolean {
    return this.#waiting.has(agentId);
  }

  get(agentId: number): Waiter | undefined {
    return this.#waiting.get(agentId);
  }

  agents(): number[] {
    return [...this.#waiting.keys()];
  }

  /** Ends the agent's open poll, if it has one. */
  finish(agentId: number, end: PollEnd): void {
    this.#waiting.get(agentId)?.finish(end);
  }

  finishAll(end: PollEnd): void {
    for (const waiter of [...this.#waiting.values()]) waiter.finish(end);
  }

  /** Holds a new poll for up to `ms`; it ends with no commands then, or when `signal` aborts. */
  hold(agentId: number, ms: number, signal?: AbortSignal): Promise<PollEnd> {
    return new Promise<PollEnd>((resolve) => {
      const waiter: Waiter = {
        agentId,
        finish: (end) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          if (this.#waiting.get(agentId) === waiter) this.#waiting.delete(agentId);
          resolve(end);
        },
      };
      const timer = setTimeout(() => waiter.finish({ kind: "commands", commands: [] }), ms);
      const onAbort = () => waiter.finish({ kind: "commands", commands: [] });
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.set(agentId, waiter);
    });
  }
}
