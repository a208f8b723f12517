// Commands for agents on PostgreSQL, for several servers: the queue is the agent_commands table, the waiting
// polls are in this server's memory. A command queued through any server is announced with NOTIFY
// relevo_commands (payload: the agent id), and the server holding that agent's poll takes and delivers it;
// the UPDATE that marks commands delivered is the one place they are taken, so two servers never both
// deliver one. A revocation is announced the same way ("revoked:<id>") and cuts the poll off wherever it is.
// After the LISTEN connection came back, every waiting poll looks again (a notification may be lost).
import type { SQL } from "bun";
import type { AgentCommand, CommandKind } from "../../shared/agents.ts";
import type { Commands } from "../agents/command-hub.ts";
import { OpenPolls, type PollEnd } from "../agents/open-polls.ts";
import { asUnavailable } from "./errors.ts";

export const COMMANDS_CHANNEL = "relevo_commands";

interface Row {
  id: string;
  agent_id: string;
  kind: CommandKind;
  state: AgentCommand["state"];
  created_at: string;
  delivered_at: string | null;
  finished_at: string | null;
  message: string | null;
}

const COLUMNS =
  "id::text AS id, agent_id::text AS agent_id, kind, state, created_at::text AS created_at, delivered_at::text AS delivered_at, finished_at::text AS finished_at, message";
const iso = (ms: string | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

function toCommand(row: Row): AgentCommand {
  return {
    id: Number(row.id),
    kind: row.kind,
    state: row.state,
    created_at: new Date(Number(row.created_at)).toISOString(),
    delivered_at: iso(row.delivered_at),
    finished_at: iso(row.finished_at),
    message: row.message,
  };
}

export class PgCommandHub implements Commands {
  readonly #polls = new OpenPolls();
  #unlisten: (() => Promise<void>) | null = null;

  private constructor(
    private readonly sql: SQL,
    private readonly clock: () => Date,
  ) {}

  static async open(sql: SQL, clock: () => Date): Promise<PgCommandHub> {
    const hub = new PgCommandHub(sql, clock);
    const subscription = await sql.listen(
      COMMANDS_CHANNEL,
      (payload) => hub.#heard(payload),
      () => {
        for (const agentId of hub.#polls.agents()) void hub.#wake(agentId);
      },
    );
    hub.#unlisten = () => subscription.unlisten();
    return hub;
  }

  get waiting(): number {
    return this.#polls.size;
  }

  isWaiting(agentId: number): boolean {
    return this.#polls.has(agentId);
  }

  /** Queues a command and tells every server; the one holding the agent's poll delivers it. */
  async enqueue(agentId: number, kind: CommandKind): Promise<AgentCommand> {
    const row = await this.#run(async () => {
      const [row] = await this.sql.unsafe(
        `INSERT INTO agent_commands (agent_id, kind, state, created_at) VALUES ($1, $2, 'queued', $3) RETURNING ${COLUMNS}`,
        [agentId, kind, this.clock().getTime()],
      );
      await this.sql.notify(COMMANDS_CHANNEL, String(agentId));
      return row as Row;
    });
    return toCommand(row);
  }

  /** Queued commands of the agent, now marked delivered (oldest first). */
  async take(agentId: number): Promise<AgentCommand[]> {
    const rows = (await this.#run(() =>
      this.sql.unsafe(
        `UPDATE agent_commands SET state = 'delivered', delivered_at = $1 WHERE agent_id = $2 AND state = 'queued' RETURNING ${COLUMNS}`,
        [this.clock().getTime(), agentId],
      ),
    )) as Row[];
    return rows.map(toCommand).sort((a, b) => a.id - b.id);
  }

  async finish(
    agentId: number,
    id: number,
    state: "done" | "failed",
    message: string,
  ): Promise<AgentCommand | null> {
    const [row] = await this.#run(() =>
      this.sql.unsafe(
        `UPDATE agent_commands SET state = $1, finished_at = $2, message = $3 WHERE id = $4 AND agent_id = $5 AND state IN ('delivered', 'queued') RETURNING ${COLUMNS}`,
        [state, this.clock().getTime(), message, id, agentId],
      ),
    );
    return row ? toCommand(row as Row) : null;
  }

  async recent(agentId: number, limit = 10): Promise<AgentCommand[]> {
    const rows = await this.#run(() =>
      this.sql.unsafe(
        `SELECT ${COLUMNS} FROM agent_commands WHERE agent_id = $1 ORDER BY agent_commands.id DESC LIMIT $2`,
        [agentId, limit],
      ),
    );
    return (rows as Row[]).map(toCommand);
  }

  /** Waits up to `ms` for commands; answers at once when some are queued. */
  async wait(agentId: number, ms: number, signal?: AbortSignal): Promise<PollEnd> {
    this.#polls.finish(agentId, { kind: "replaced" });
    const queued = await this.take(agentId);
    if (queued.length || ms <= 0) return { kind: "commands", commands: queued };
    return this.#polls.hold(agentId, ms, signal);
  }

  revoked(agentId: number): void {
    this.#polls.finish(agentId, { kind: "revoked" });
  }

  async close(): Promise<void> {
    this.#polls.finishAll({ kind: "closing" });
    await this.#unlisten?.().catch(() => {});
  }

  #heard(payload: string): void {
    const revoked = /^revoked:(\d+)$/.exec(payload);
    if (revoked) this.revoked(Number(revoked[1]));
    else if (/^\d+$/.test(payload)) void this.#wake(Number(payload));
  }

  async #wake(agentId: number): Promise<void> {
    const waiter = this.#polls.get(agentId);
    if (!waiter) return;
    try {
      const commands = await this.take(agentId);
      if (commands.length) waiter.finish({ kind: "commands", commands });
    } catch {
      // The database is away: the commands stay queued, and the agent's next poll takes them.
    }
  }

  async #run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw asUnavailable(error, "PostgreSQL");
    }
  }
}
