// Reaching agents without a port on their hosts: each agent keeps one long-poll open
// (GET /api/agents/{id}/commands?wait=55, its own token), an admin queues `collect` or `update`
// (POST /api/agents/{id}/collect|update) and the poll answers at once; the agent posts the outcome
// (POST /api/agents/{id}/commands/{command}), shown by GET /api/agents/{id}. Also the release downloads
// the update check points at (GET /api/updates/download/{version}/{file}, the agent's own token).
import type { Hono, MiddlewareHandler } from "hono";
import { Hono as HonoApp } from "hono";
import * as v from "valibot";
import {
  COMMAND_KINDS,
  type CommandKind,
  CommandOutcomeSchema,
  type CommandsAnswer,
} from "../../shared/agents.ts";
import type { Agents } from "../agents/agent-store.ts";
import { type AuthOptions, openToAll, presentedToken } from "../auth/guard.ts";
import { readJsonBody } from "../body.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http-error.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";
import { agentGuard, agentIdParam } from "./agents.ts";

/** The longest wait a poll may ask for; agents ask for 55 s, under most proxies' 60 s idle limit. */
export const MAX_WAIT_S = 120;

export function controlRoutes(kit: RouteKit, agents: Agents, auth: AuthOptions): Hono<AppEnv> {
  const { clock, releases, commands } = kit.options;
  const app = new HonoApp<AppEnv>();

  /** The agent the path names, calling with its own token (or anyone on an open loopback server). */
  const ownAgent: MiddlewareHandler<AppEnv> = async (c, next) => {
    const id = agentIdParam(c.req.param("id"), "the path's agent id");
    const refuse = (why: string) =>
      new ApiError(401, "invalid_agent", "Invalid agent", [{ path: "Authorization", message: why }], {
        "www-authenticate": 'Bearer realm="relevo"',
      });
    const token = presentedToken(c.req.header("authorization"));
    if (token !== undefined) {
      if ((await agents.byToken(token)) !== id)
        throw refuse("the token is not this active agent's own token");
    } else if (!openToAll(auth, (name) => c.req.header(name))) {
      throw refuse("send the agent's token as Authorization: Bearer <token>");
    } else if ((await agents.get(id, clock()))?.state !== "active") {
      throw refuse("no active agent has this id");
    }
    c.set("agentId", id);
    return next();
  };

  if (commands) {
    app.route(
      "/",
      endpoint(
        kit,
        { method: "GET", path: "/api/agents/:id/commands", role: null },
        async (c) => {
          const id = c.get("agentId") as number;
          const text = c.req.query("wait") ?? "0";
          if (!/^\d{1,3}$/.test(text) || Number(text) > MAX_WAIT_S) {
            throw new ApiError(
              400,
              "bad_parameters",
              `wait must be a whole number of seconds from 0 to ${MAX_WAIT_S}`,
            );
          }
          const wait = Number(text);
          // Longer than the wait: Bun's idle timer would otherwise close the quiet connection first.
          c.env?.timeout?.(wait + 30);
          const end = await commands.wait(id, wait * 1000, c.req.raw.signal);
          if (end.kind === "replaced") {
            throw new ApiError(409, "poll_replaced", "a newer poll of this agent replaced this one");
          }
          if (end.kind === "revoked") {
            throw new ApiError(401, "invalid_agent", "Invalid agent", [
              { path: "Authorization", message: "the agent was revoked while it waited" },
            ]);
          }
          const answer: CommandsAnswer = { commands: end.kind === "commands" ? end.commands : [] };
          return c.json(answer);
        },
        [ownAgent],
      ),
    );

    app.route(
      "/",
      endpoint(
        kit,
        { method: "POST", path: "/api/agents/:id/commands/:command", role: null },
        async (c) => {
          const id = c.get("agentId") as number;
          const commandId = agentIdParam(c.req.param("command"), "the path's command id");
          const body = await readJsonBody(c.req.raw, "the body", {
            limit: 16 * 1024,
            timeoutMs: kit.options.bodyTimeoutMs,
          });
          const parsed = v.safeParse(CommandOutcomeSchema, body);
          if (!parsed.success) {
            throw new ApiError(
              422,
              "invalid_outcome",
              `the outcome is not valid: ${v.summarize(parsed.issues)}`,
            );
          }
          const done = await commands.finish(id, commandId, parsed.output.state, parsed.output.message);
          if (!done) throw new ApiError(404, "not_found", `agent ${id} has no open command ${commandId}`);
          return c.json(done);
        },
        [ownAgent],
      ),
    );

    for (const kind of COMMAND_KINDS) {
      app.route(
        "/",
        endpoint(kit, { method: "POST", path: `/api/agents/:id/${kind}`, role: "admin" }, async (c) => {
          const id = agentIdParam(c.req.param("id"), "the path's agent id");
          const agent = await agents.get(id, clock());
          if (!agent) throw new ApiError(404, "not_found", `no agent ${id} was ever registered`);
          if (agent.state !== "active") throw new ApiError(409, "agent_revoked", `agent ${id} is revoked`);
          const command = await commands.enqueue(id, kind as CommandKind);
          return c.json({ command, polling: commands.isWaiting(id) }, 202);
        }),
      );
    }
  }

  if (releases) {
    app.route(
      "/",
      endpoint(
        kit,
        { method: "GET", path: "/api/updates/download/:version/:file", role: null },
        async (c) => {
          const body = await releases.download(c.req.param("version") ?? "", c.req.param("file") ?? "");
          if (!body) throw new ApiError(404, "not_found", "no such release file");
          return new Response(body, {
            headers: { "content-type": "application/octet-stream", "cache-control": "no-store" },
          });
        },
        [agentGuard(agents, auth, clock)],
      ),
    );
  }
  return app;
}
