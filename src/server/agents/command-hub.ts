// Commands for agents (collect now, check for an update) and the agents' long-polls. The queue is in
// relevo.db; the waiting polls are held by OpenPolls (one per agent, a newer one replacing the older).
// A command queued here wakes its agent's poll at once. One timer per second looks at PRAGMA data_version,
// which moves only when another process (relevo-server agent revoke) committed: then the waiting agents
// are checked for revocation (cut off with 401) and for commands queued elsewhere.
import type { Database } from "bun:sqlite";
import type { AgentCommand, CommandKind } from "../../shared/agents.ts";
import { OpenPolls, type PollEnd } from "./open-polls.ts";

export type { PollEnd } from "./open-polls.ts";

interface Row {
  id: number;
  agent_id: number;
  kind: CommandKind;
  state: AgentCommand["state"];
  created_at: number;
  delivered_at: number | null;
  finished_at: number | null;
  message: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toCommand(row: Row): AgentCommand {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    created_at: new Date(row.created_at).toISOString(),
    delivered_at: iso(row.delivered_at),
    finished_at: iso(row.finished_at),
    message: row.message,
  };
}

/** What the routes need of the commands, from relevo.db (CommandHub) or PostgreSQL (PgCommandHub). */
export interface Commands {
  isWaiting(agentId: number): boolean;
  enqueue(agentId: number, kind: CommandKind): AgentCommand | Promise<AgentCommand>;
  finish(
    agentId: number,
    id: number,
    state: "done" | "failed",
    message: string,
  ): AgentCommand | null | Promise<AgentCommand | null>;
  recent(agentId: number, limit?: number): AgentCommand[] | Promise<AgentCommand[]>;
  wait(agentId: number, ms: number, signal?: AbortSignal): Promise<PollEnd>;
  /** Answers every open poll (the server is stopping). */
  close(): void | Promise<void>;
}

export class CommandHub implements Commands {
  readonly #polls = new OpenPolls();
  #dataVersion: number;
  readonly #sweep: ReturnType<typeof setInterval>;

  constructor(
    private readonly db: Database,
    private readonly clock: () => Date,
    sweepMs = 1_000,
  ) {
    this.#dataVersion = this.#readDataVersion();
    this.#sweep = setInterval(() => this.#look(), sweepMs);
    this.#sweep.unref();
  }

  get waiting(): number {
    return this.#polls.size;
  }

  isWaiting(agentId: number): boolean {
    return this.#polls.has(agentId);
  }

  /** Queues a command and wakes the agent's poll, if one is open. */
  enqueue(agentId: number, kind: CommandKind): AgentCommand {
    const row = this.db
      .query(
        "INSERT INTO agent_commands (agent_id, kind, state, created_at) VALUES (?, ?, 'queued', ?) RETURNING *",
      )
      .get(agentId, kind, this.clock().getTime()) as Row;
    this.#wake(agentId);
    return toCommand(row);
  }

  /** Queued commands of the agent, now marked delivered (oldest first). */
  take(agentId: number): AgentCommand[] {
    // A read first (on the partial index): the common case, nothing queued, writes nothing.
    if (
      !this.db
        .query("SELECT 1 FROM agent_commands WHERE agent_id = ? AND state = 'queued' LIMIT 1")
        .get(agentId)
    ) {
      return [];
    }
    const rows = this.db
      .query(
        "UPDATE agent_commands SET state = 'delivered', delivered_at = ? WHERE agent_id = ? AND state = 'queued' RETURNING *",
      )
      .all(this.clock().getTime(), agentId) as Row[];
    return rows.sort((a, b) => a.id - b.id).map(toCommand);
  }

  /** The agent's outcome of one of its commands; null when it has no such delivered command. */
  finish(agentId: number, id: number, state: "done" | "failed", message: string): AgentCommand | null {
    const row = this.db
      .query(
        "UPDATE agent_commands SET state = ?, finished_at = ?, message = ? WHERE id = ? AND agent_id = ? AND state IN ('delivered', 'queued') RETURNING *",
      )
      .get(state, this.clock().getTime(), message, id, agentId) as Row | null;
    return row ? toCommand(row) : null;
  }

  recent(agentId: number, limit = 10): AgentCommand[] {
    const rows = this.db
      .query("SELECT * FROM agent_commands WHERE agent_id = ? ORDER BY id DESC LIMIT ?")
      .all(agentId, limit) as Row[];
    return rows.map(toCommand);
  }

  /** Waits up to `ms` for commands; answers at once when some are queued. */
  wait(agentId: number, ms: number, signal?: AbortSignal): Promise<PollEnd> {
    this.#polls.finish(agentId, { kind: "replaced" });
    const queued = this.take(agentId);
    if (queued.length || ms <= 0) return Promise.resolve({ kind: "commands", commands: queued });
    return this.#polls.hold(agentId, ms, signal);
  }

  /** Cuts an agent's open poll off at once (revoked by this server). */
  revoked(agentId: number): void {
    this.#polls.finish(agentId, { kind: "revoked" });
  }

  /** Answers every open poll (the server is stopping): agents reconnect to the next one. */
  close(): void {
    clearInterval(this.#sweep);
    this.#polls.finishAll({ kind: "closing" });
  }

  #wake(agentId: number): void {
    const waiter = this.#polls.get(agentId);
    if (!waiter) return;
    const commands = this.take(agentId);
    if (commands.length) waiter.finish({ kind: "commands", commands });
  }

  #readDataVersion(): number {
    return (this.db.query("PRAGMA data_version").get() as { data_version: number }).data_version;
  }

  #look(): void {
    if (!this.#polls.size) return;
    let now: number;
    try {
      now = this.#readDataVersion();
    } catch {
      return;
    }
    if (now === this.#dataVersion) return;
    this.#dataVersion = now;
    const revoked = this.db.query("SELECT id FROM agents WHERE state = 'revoked'").all() as { id: number }[];
    for (const { id } of revoked) this.revoked(id);
    const queued = this.db
      .query("SELECT DISTINCT agent_id FROM agent_commands WHERE state = 'queued'")
      .all() as { agent_id: number }[];
    for (const { agent_id } of queued) this.#wake(agent_id);
  }
}
