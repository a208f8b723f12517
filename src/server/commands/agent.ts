// `relevo-server agent list|revoke ID`: the enrolled agents in the data directory's relevo.db. Revoking
// kills the agent's token at once, also for a running server (it looks tokens up per request).
import { type ArgsDef, defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { AgentStore, type Agents } from "../agents/agent-store.ts";
import { openStateDb } from "../db/state-db.ts";
import { PgAgentStore } from "../pg/agent-store.ts";
import { DEFAULT_INTERVAL_S } from "../routes/agents.ts";
import { databaseArg, databaseUrl, withDatabase } from "./_database.ts";
import { dataDir } from "./token.ts";

const dataArg = {
  data: { type: "string", default: "./data", description: "The server's data directory" },
  ...databaseArg,
} as const satisfies ArgsDef;

function withAgents<T>(
  args: { data: string; database?: string },
  work: (agents: Agents) => Promise<T> | T,
): Promise<T> {
  const url = databaseUrl(args);
  if (url) {
    return withDatabase(url, async (sql) => work(new PgAgentStore(sql, 3 * DEFAULT_INTERVAL_S * 1000)));
  }
  const state = openStateDb(dataDir(args.data), { now: new Date() });
  const agents = new AgentStore(state.db, null, 3 * DEFAULT_INTERVAL_S * 1000);
  return Promise.resolve(work(agents)).finally(() => state.close());
}

const list = defineCommand({
  meta: { name: "list", description: "List enrolled agents: id, host, OS, version, last seen, state" },
  args: {
    ...dataArg,
    state: {
      type: "enum",
      options: ["active", "revoked", "stale"],
      description: "Only agents in this state",
    },
  },
  run({ args }) {
    return withAgents(args, async (agents) => {
      const state = args.state as "active" | "revoked" | "stale" | undefined;
      const { agents: rows } = await agents.list({ state, limit: 1_000_000, offset: 0 }, new Date());
      if (!rows.length) {
        console.log("no agents (relevo-agent register --url URL --enroll-token T enrolls one)");
        return;
      }
      console.log(
        [
          "ID".padEnd(6),
          "HOSTNAME".padEnd(28),
          "OS".padEnd(24),
          "VERSION".padEnd(10),
          "LAST SEEN".padEnd(26),
          "STATE",
        ].join(" "),
      );
      for (const a of rows) {
        const state = a.state === "active" && a.health === "stale" ? "stale" : a.state;
        console.log(
          [
            String(a.id).padEnd(6),
            a.hostname.padEnd(28),
            `${a.os_type} ${a.os_version}`.padEnd(24),
            a.version.padEnd(10),
            a.last_seen.padEnd(26),
            state,
          ].join(" "),
        );
      }
    });
  },
});

const revoke = defineCommand({
  meta: { name: "revoke", description: "Revoke an agent's token; a running server refuses it at once" },
  args: { ...dataArg, id: { type: "positional", required: true, description: "The agent's id" } },
  run({ args }) {
    if (!/^[1-9]\d{0,14}$/.test(args.id))
      throw new UsageError(`${args.id}: an agent id is a whole number from 1`);
    const id = Number(args.id);
    return withAgents(args, async (agents) => {
      if (!(await agents.revoke(id))) throw new UsageError(`no agent ${id} (see: relevo-server agent list)`);
      console.log(
        `revoked agent ${id}: its token no longer works; it may register again with an enroll token`,
      );
    });
  },
});

export default defineCommand({
  meta: { name: "agent", description: "Manage enrolled agents" },
  subCommands: { list, revoke },
});
