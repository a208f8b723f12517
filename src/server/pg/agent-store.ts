// Enrolled agents on PostgreSQL, shared by every server: an agent registered through one server reports
// through any other, and a revocation counts everywhere from the next request (lookups are per request).

import { randomBytes } from "node:crypto";
import type { SQL } from "bun";
import type { AgentListQuery, AgentRecord, RegisterRequest } from "../../shared/agents.ts";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import {
  AGENT_COLUMNS,
  type AgentRow,
  type Agents,
  agentRecord,
  hashAgentToken,
} from "../agents/agent-store.ts";
import { asUnavailable } from "./errors.ts";

const agentsLog = logger("agents");
const PREFIX = "rlva_";
/** "agents" in ASCII: registrations of one machine through two servers at once are taken one by one. */
const REGISTER_LOCK = 0x6167656e7473;

type RawRow = Omit<AgentRow, "id" | "first_seen" | "last_seen"> & {
  id: string;
  first_seen: string;
  last_seen: string;
};

function rowOf(raw: RawRow): AgentRow {
  return { ...raw, id: Number(raw.id), first_seen: Number(raw.first_seen), last_seen: Number(raw.last_seen) };
}

// int8 columns come back as text; the API's numbers are JavaScript numbers.
const COLUMNS = AGENT_COLUMNS.replace("id,", "id::text AS id,")
  .replace("first_seen,", "first_seen::text AS first_seen,")
  .replace("last_seen,", "last_seen::text AS last_seen,");

export class PgAgentStore implements Agents {
  constructor(
    private readonly sql: SQL,
    private readonly staleAfterMs: number,
  ) {}

  async register(
    request: RegisterRequest,
    ip: string,
    now: Date,
  ): Promise<{ id: number; token: string; renewed: boolean }> {
    const token = `${PREFIX}${randomBytes(32).toString("base64url")}`;
    const hash = hashAgentToken(token);
    const ms = now.getTime();
    const machineId = request.machine_id ?? null;
    return this.#run(() =>
      this.sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${REGISTER_LOCK})`;
        const [existing] = machineId
          ? await tx`SELECT id::text AS id FROM agents WHERE machine_id = ${machineId}`
          : await tx`SELECT id::text AS id FROM agents WHERE machine_id IS NULL AND hostname = ${request.hostname}
              AND os_type = ${request.os_type} ORDER BY agents.id LIMIT 1`;
        if (existing) {
          await tx`UPDATE agents SET hostname = ${request.hostname}, os_type = ${request.os_type},
            os_version = ${request.os_version}, version = ${request.agent_version}, last_seen = ${ms},
            last_ip = ${ip}, token_hash = ${hash}, state = 'active' WHERE id = ${existing.id}::bigint`;
          return { id: Number(existing.id), token, renewed: true };
        }
        const [row] =
          await tx`INSERT INTO agents (machine_id, hostname, os_type, os_version, version, first_seen,
            last_seen, last_ip, token_hash, state)
          VALUES (${machineId}, ${request.hostname}, ${request.os_type}, ${request.os_version},
            ${request.agent_version}, ${ms}, ${ms}, ${ip}, ${hash}, 'active') RETURNING id::text AS id`;
        return { id: Number(row.id), token, renewed: false };
      }),
    );
  }

  async byToken(token: string): Promise<number | null> {
    const [row] = await this.#run(
      () =>
        this
          .sql`SELECT id::text AS id FROM agents WHERE token_hash = ${hashAgentToken(token)} AND state = 'active'`,
    );
    return row ? Number(row.id) : null;
  }

  async get(id: number, now: Date): Promise<AgentRecord | null> {
    const [row] = await this.#run(() => this.sql.unsafe(`SELECT ${COLUMNS} FROM agents WHERE id = $1`, [id]));
    return row ? agentRecord(rowOf(row as RawRow), now, this.staleAfterMs) : null;
  }

  async list(query: AgentListQuery, now: Date): Promise<{ total: number; agents: AgentRecord[] }> {
    const cutoff = now.getTime() - this.staleAfterMs;
    const where =
      query.state === "stale"
        ? "WHERE state = 'active' AND last_seen < $1"
        : query.state
          ? "WHERE state = $1"
          : "";
    const params: Array<string | number> =
      query.state === "stale" ? [cutoff] : query.state ? [query.state] : [];
    const [count] = await this.#run(() =>
      this.sql.unsafe(`SELECT count(*)::text AS n FROM agents ${where}`, params),
    );
    const n = params.length;
    const rows = await this.#run(() =>
      this.sql.unsafe(
        `SELECT ${COLUMNS} FROM agents ${where} ORDER BY agents.id LIMIT $${n + 1} OFFSET $${n + 2}`,
        [...params, query.limit, query.offset],
      ),
    );
    return {
      total: Number(count?.n ?? 0),
      agents: (rows as RawRow[]).map((row) => agentRecord(rowOf(row), now, this.staleAfterMs)),
    };
  }

  async touch(id: number, ip: string, version: string | null, now: Date): Promise<void> {
    try {
      await this.sql`UPDATE agents SET last_seen = ${now.getTime()}, last_ip = ${ip},
        version = coalesce(${version}, version) WHERE id = ${id}`;
    } catch (error) {
      agentsLog.warn(`agent ${id}: last seen not recorded (${errorMessage(error)})`);
    }
  }

  /** Revokes everywhere: lookups are per request, and servers holding the agent's long-poll hear NOTIFY. */
  async revoke(id: number): Promise<boolean> {
    const result = await this.#run(() =>
      this.sql.begin(async (tx) => {
        const updated = await tx`UPDATE agents SET state = 'revoked' WHERE id = ${id}`;
        await tx.notify("relevo_commands", `revoked:${id}`);
        return updated;
      }),
    );
    return result.count > 0;
  }

  async #run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw asUnavailable(error, "PostgreSQL");
    }
  }
}
