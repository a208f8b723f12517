// Enrolled agents in relevo.db: registration (a re-registration of the same machine keeps its id and gets
// a new token), lookup by token hash, last seen, revocation. Writes go through the group commit; reads are
// direct, so a revocation by `relevo-server agent revoke` (another process) counts from the next request.
import type { Database } from "bun:sqlite";
import { createHash, randomBytes } from "node:crypto";
import type { AgentListQuery, AgentRecord, RegisterRequest } from "../../shared/agents.ts";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { GroupCommit } from "../db/group-commit.ts";

const agentsLog = logger("agents");

const PREFIX = "rlva_";

export interface AgentRow {
  id: number;
  machine_id: string | null;
  hostname: string;
  os_type: string;
  os_version: string;
  version: string;
  first_seen: number;
  last_seen: number;
  last_ip: string | null;
  state: "active" | "revoked";
}

export const AGENT_COLUMNS =
  "id, machine_id, hostname, os_type, os_version, version, first_seen, last_seen, last_ip, state";

export function hashAgentToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** What the routes need of the enrolled agents, from relevo.db (AgentStore) or PostgreSQL (PgAgentStore). */
export interface Agents {
  /** Registers or re-registers a machine; the new token is returned once and only its hash is kept. */
  register(
    request: RegisterRequest,
    ip: string,
    now: Date,
  ): Promise<{ id: number; token: string; renewed: boolean }>;
  /** The active agent this token belongs to. */
  byToken(token: string): number | null | Promise<number | null>;
  get(id: number, now: Date): AgentRecord | null | Promise<AgentRecord | null>;
  list(
    query: AgentListQuery,
    now: Date,
  ): { total: number; agents: AgentRecord[] } | Promise<{ total: number; agents: AgentRecord[] }>;
  /** Notes a report from the agent; never throws. */
  touch(id: number, ip: string, version: string | null, now: Date): Promise<void>;
  revoke(id: number): Promise<boolean>;
}

/** An agent's row as an API record: stale once `staleAfterMs` passed since it was last seen. */
export function agentRecord(row: AgentRow, now: Date, staleAfterMs: number): AgentRecord {
  const stale = now.getTime() - row.last_seen > staleAfterMs;
  return {
    id: row.id,
    machine_id: row.machine_id,
    hostname: row.hostname,
    os_type: row.os_type,
    os_version: row.os_version,
    version: row.version,
    first_seen: new Date(row.first_seen).toISOString(),
    last_seen: new Date(row.last_seen).toISOString(),
    last_ip: row.last_ip,
    state: row.state,
    health: stale ? "stale" : "ok",
  };
}

export class AgentStore implements Agents {
  constructor(
    private readonly db: Database,
    /** null: write directly (the CLI, which has no concurrent requests to group). */
    private readonly writer: GroupCommit | null,
    /** An agent is stale once this many milliseconds passed since it was last seen. */
    private readonly staleAfterMs: number,
  ) {}

  #write<T>(work: () => T): Promise<T> {
    if (this.writer) return this.writer.run(work);
    return Promise.resolve(this.db.transaction(work).immediate());
  }

  /** Registers or re-registers a machine; the new token is returned once and only its hash is kept. */
  async register(
    request: RegisterRequest,
    ip: string,
    now: Date,
  ): Promise<{ id: number; token: string; renewed: boolean }> {
    const token = `${PREFIX}${randomBytes(32).toString("base64url")}`;
    const hash = hashAgentToken(token);
    const ms = now.getTime();
    const machineId = request.machine_id ?? null;
    return this.#write(() => {
      const existing = (
        machineId
          ? this.db.query("SELECT id FROM agents WHERE machine_id = ?").get(machineId)
          : this.db
              .query(
                "SELECT id FROM agents WHERE machine_id IS NULL AND hostname = ? AND os_type = ? ORDER BY id LIMIT 1",
              )
              .get(request.hostname, request.os_type)
      ) as { id: number } | null;
      if (existing) {
        this.db
          .query(
            "UPDATE agents SET hostname = ?, os_type = ?, os_version = ?, version = ?, last_seen = ?, last_ip = ?, token_hash = ?, state = 'active' WHERE id = ?",
          )
          .run(
            request.hostname,
            request.os_type,
            request.os_version,
            request.agent_version,
            ms,
            ip,
            hash,
            existing.id,
          );
        return { id: existing.id, token, renewed: true };
      }
      const row = this.db
        .query(
          `INSERT INTO agents (machine_id, hostname, os_type, os_version, version, first_seen, last_seen, last_ip, token_hash, state)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active') RETURNING id`,
        )
        .get(
          machineId,
          request.hostname,
          request.os_type,
          request.os_version,
          request.agent_version,
          ms,
          ms,
          ip,
          hash,
        ) as { id: number };
      return { id: row.id, token, renewed: false };
    });
  }

  /** The active agent this token belongs to (a 256-bit random token: its hash is the lookup key). */
  byToken(token: string): number | null {
    const row = this.db
      .query("SELECT id FROM agents WHERE token_hash = ? AND state = 'active'")
      .get(hashAgentToken(token)) as { id: number } | null;
    return row?.id ?? null;
  }

  get(id: number, now: Date): AgentRecord | null {
    const row = this.db.query(`SELECT ${AGENT_COLUMNS} FROM agents WHERE id = ?`).get(id) as AgentRow | null;
    return row ? this.#record(row, now) : null;
  }

  list(query: AgentListQuery, now: Date): { total: number; agents: AgentRecord[] } {
    const cutoff = now.getTime() - this.staleAfterMs;
    const where =
      query.state === "stale"
        ? "WHERE state = 'active' AND last_seen < ?"
        : query.state
          ? "WHERE state = ?"
          : "";
    const params = query.state === "stale" ? [cutoff] : query.state ? [query.state] : [];
    const total = (this.db.query(`SELECT count(*) AS n FROM agents ${where}`).get(...params) as { n: number })
      .n;
    const rows = this.db
      .query(`SELECT ${AGENT_COLUMNS} FROM agents ${where} ORDER BY id LIMIT ? OFFSET ?`)
      .all(...params, query.limit, query.offset) as AgentRow[];
    return { total, agents: rows.map((row) => this.#record(row, now)) };
  }

  /**
   * Notes a report from the agent: last seen, from where, with which version. Never throws: the report is
   * stored already, and a retry because of this bookkeeping would store an inventory twice.
   */
  async touch(id: number, ip: string, version: string | null, now: Date): Promise<void> {
    try {
      await this.#write(() => {
        this.db
          .query("UPDATE agents SET last_seen = ?, last_ip = ?, version = coalesce(?, version) WHERE id = ?")
          .run(now.getTime(), ip, version, id);
      });
    } catch (error) {
      agentsLog.warn(`agent ${id}: last seen not recorded (${errorMessage(error)})`);
    }
  }

  /** Kills the agent's token; false when no such agent exists. */
  async revoke(id: number): Promise<boolean> {
    return this.#write(
      () => this.db.query("UPDATE agents SET state = 'revoked' WHERE id = ?").run(id).changes > 0,
    );
  }

  #record(row: AgentRow, now: Date): AgentRecord {
    return agentRecord(row, now, this.staleAfterMs);
  }
}
