// The integration guide's agent API: POST /api/agents/register (an `enroll` token), POST /api/inventory and
// GET /api/updates/check (the agent itself: X-Agent-ID and its own token), GET /api/agents/{id}/health,
// and the operator's GET /api/agents[/{id}] (read). An unknown id, or a token that is not that agent's,
// is 401 `Invalid agent`, whoever is asking.
import type { Hono, MiddlewareHandler } from "hono";
import { Hono as HonoApp } from "hono";
import * as v from "valibot";
import {
  type AgentHealth,
  AgentListQuerySchema,
  type InventoryAnswer,
  InventorySchema,
  type RegisterAnswer,
  RegisterRequestSchema,
  type UpdateCheckAnswer,
} from "../../shared/agents.ts";
import { checkReport } from "../../shared/report.ts";
import { parseSemver } from "../../shared/semver.ts";
import type { Agents } from "../agents/agent-store.ts";
import { inventoryReport } from "../agents/inventory-report.ts";
import { type AuthOptions, openToAll, presentedToken } from "../auth/guard.ts";
import { readJsonBody } from "../body.ts";
import type { AppEnv } from "../env.ts";
import { ApiError, type ErrorDetail } from "../http-error.ts";
import { prepareReport } from "../intake.ts";
import { capUploads } from "../limits.ts";
import { PLATFORM } from "../releases/release-store.ts";
import { endpoint, type RouteKit, resource } from "./_endpoint.ts";

const MAX_DETAILS = 100;
const MAX_REGISTER_BODY = 64 * 1024;
/** What the guide's agents are told when the server sets no interval of its own. */
export const DEFAULT_INTERVAL_S = 300;

function invalidAgent(path: string, why: string): ApiError {
  return new ApiError(401, "invalid_agent", "Invalid agent", [{ path, message: why }], {
    "www-authenticate": 'Bearer realm="relevo"',
  });
}

function issuesOf(issues: readonly v.BaseIssue<unknown>[]): ErrorDetail[] {
  return issues.slice(0, MAX_DETAILS).map((issue) => ({
    path: v.getDotPath(issue) ?? "",
    message: issue.message,
  }));
}

/**
 * The platform whose executable an agent gets: relevo's agents say it (X-Agent-Platform: linux-x64); the
 * guide's agents are taken as x64 of the OS they registered with.
 */
function agentPlatform(header: string | undefined, osType: string | undefined): string | null {
  const said = header?.trim();
  if (said) {
    if (!PLATFORM.test(said)) {
      throw new ApiError(
        400,
        "bad_agent_platform",
        "X-Agent-Platform must be linux-x64, linux-arm64 or windows-x64",
      );
    }
    return said;
  }
  if (osType === "Linux") return "linux-x64";
  if (osType === "Windows") return "windows-x64";
  return null;
}

export function agentIdParam(text: string | undefined, where: string): number {
  if (!text || !/^[1-9]\d{0,14}$/.test(text.trim())) {
    throw new ApiError(400, "bad_agent_id", `${where} must be an agent id (a whole number from 1)`);
  }
  return Number(text.trim());
}

/** X-Agent-ID and X-Agent-Version present and well formed, and the caller is that agent. */
export function agentGuard(agents: Agents, auth: AuthOptions, clock: () => Date): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const idHeader = c.req.header("x-agent-id");
    if (idHeader === undefined) throw invalidAgent("X-Agent-ID", "the X-Agent-ID header is missing");
    if (!/^\s*[1-9]\d{0,14}\s*$/.test(idHeader)) {
      throw invalidAgent("X-Agent-ID", "X-Agent-ID must be the agent id registration gave");
    }
    const version = c.req.header("x-agent-version")?.trim();
    if (!version) throw new ApiError(400, "bad_agent_version", "the X-Agent-Version header is missing");
    if (!parseSemver(version)) {
      throw new ApiError(
        400,
        "bad_agent_version",
        "X-Agent-Version must be a semantic version such as 1.0.0",
      );
    }
    const id = Number(idHeader.trim());
    const token = presentedToken(c.req.header("authorization"));
    if (token !== undefined) {
      const owner = await agents.byToken(token);
      if (owner === null) throw invalidAgent("Authorization", "the token is not an active agent's token");
      if (owner !== id) throw invalidAgent("X-Agent-ID", "the token belongs to another agent");
    } else if (!openToAll(auth, (name) => c.req.header(name))) {
      throw invalidAgent("Authorization", "send the agent's token as Authorization: Bearer <token>");
    } else if ((await agents.get(id, clock()))?.state !== "active") {
      throw invalidAgent("X-Agent-ID", "no active agent has this id");
    }
    c.set("agentId", id);
    return next();
  };
}

export function agentRoutes(kit: RouteKit, agents: Agents, auth: AuthOptions): Hono<AppEnv> {
  const { clock, store, maxBody, bodyTimeoutMs } = kit.options;
  const interval = kit.options.nextReportIn ?? DEFAULT_INTERVAL_S;
  const { releases, commands } = kit.options;
  const app = new HonoApp<AppEnv>();

  const asAgent = agentGuard(agents, auth, clock);

  app.route(
    "/",
    endpoint(kit, { method: "POST", path: "/api/agents/register", role: "enroll" }, async (c) => {
      const body = await readJsonBody(c.req.raw, "the body", {
        limit: MAX_REGISTER_BODY,
        timeoutMs: bodyTimeoutMs,
      });
      const parsed = v.safeParse(RegisterRequestSchema, body);
      if (!parsed.success) {
        throw new ApiError(
          422,
          "invalid_registration",
          "the registration is not valid",
          issuesOf(parsed.issues),
        );
      }
      const { id, token, renewed } = await agents.register(parsed.output, c.get("clientIp"), clock());
      const answer: RegisterAnswer = {
        success: true,
        agent_id: id,
        message: renewed
          ? "Agent re-registered; its previous token is no longer valid"
          : "Agent registered successfully",
        token,
      };
      return c.json(answer);
    }),
  );

  app.route(
    "/",
    endpoint(
      kit,
      { method: "POST", path: "/api/inventory", role: null },
      async (c) => {
        const id = c.get("agentId") as number;
        const version = (c.req.header("x-agent-version") ?? "").trim();
        const body = await readJsonBody(c.req.raw, "the body", { limit: maxBody, timeoutMs: bodyTimeoutMs });
        const parsed = v.safeParse(InventorySchema, body);
        if (!parsed.success) {
          throw new ApiError(422, "invalid_inventory", "the inventory is not valid", issuesOf(parsed.issues));
        }
        if (parsed.output.agent_id !== id) throw invalidAgent("agent_id", "agent_id differs from X-Agent-ID");
        const agent = await agents.get(id, clock());
        if (!agent) throw invalidAgent("X-Agent-ID", "no agent has this id");
        const ip = c.get("clientIp");
        const report = inventoryReport(parsed.output, {
          agentId: id,
          agentVersion: version,
          osType: agent.os_type,
          osVersion: agent.os_version,
          reportId: Bun.randomUUIDv7(),
          receivedAt: clock(),
          ip,
        });
        // The same check as an upload: what reaches a day file is always a valid schema-1 report.
        const check = checkReport(report);
        if (!check.ok)
          throw new ApiError(422, "invalid_inventory", "the inventory is not valid", check.issues);
        const stored = await store.append(prepareReport(report), ip);
        void kit.options.software?.feed(
          stored.ip,
          { collectedAt: check.report.collected_at, software: check.report.software },
          clock(),
        );
        await agents.touch(id, ip, version, clock());
        const answer: InventoryAnswer = {
          success: true,
          message: "Inventory received",
          next_report_in: interval,
        };
        return c.json(answer);
      },
      [asAgent, capUploads(kit.options.maxUploads, kit.options.maxUploadsPerSource)],
    ),
  );

  app.route(
    "/",
    endpoint(
      kit,
      { method: "GET", path: "/api/updates/check", role: null },
      async (c) => {
        const id = c.get("agentId") as number;
        const current = (c.req.header("x-agent-version") ?? "").trim();
        const platform = agentPlatform(
          c.req.header("x-agent-platform"),
          (await agents.get(id, clock()))?.os_type,
        );
        const offer = releases && platform ? await releases.offerFor(id, current, platform) : null;
        const answer: UpdateCheckAnswer = offer
          ? {
              update_available: true,
              latest_version: offer.release.version,
              download_url: offer.release.url_base
                ? new URL(
                    offer.file,
                    offer.release.url_base.endsWith("/")
                      ? offer.release.url_base
                      : `${offer.release.url_base}/`,
                  ).href
                : new URL(`/api/updates/download/${offer.release.version}/${offer.file}`, c.req.url).href,
              changelog: offer.release.changelog,
              sha256: offer.sha256,
              file: offer.file,
              sums: offer.release.sums,
              signature: offer.release.signature,
            }
          : { update_available: false };
        return c.json(answer);
      },
      [asAgent],
    ),
  );

  /** The agent itself (its own token), a read token, or anyone on an open loopback server. */
  const agentOrReader: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (openToAll(auth, (name) => c.req.header(name))) return next();
    const id = agentIdParam(c.req.param("id"), "the path's agent id");
    const token = presentedToken(c.req.header("authorization"));
    if (token === undefined) {
      throw new ApiError(401, "unauthorized", "send a token as Authorization: Bearer <token>");
    }
    if ((await agents.byToken(token)) === id) return next();
    const entry = auth.registry?.verify(token, clock()) ?? null;
    if (!entry) throw new ApiError(401, "unauthorized", "the token is not valid (revoked or mistyped)");
    if (entry.role !== "read") {
      throw new ApiError(403, "forbidden", `this token has the ${entry.role} role; this endpoint needs read`);
    }
    return next();
  };

  app.route(
    "/",
    endpoint(
      kit,
      { method: "GET", path: "/api/agents/:id/health", role: null },
      async (c) => {
        const id = agentIdParam(c.req.param("id"), "the path's agent id");
        const now = clock();
        const agent = await agents.get(id, now);
        const server_time = now.toISOString();
        if (!agent) {
          const unknown: AgentHealth = { status: "unknown", server_time, message: "Agent not registered" };
          return c.json(unknown, 404);
        }
        const answer: AgentHealth =
          agent.state === "revoked"
            ? { status: "revoked", server_time, message: "Agent was revoked" }
            : agent.health === "ok"
              ? { status: "ok", server_time, message: "Agent is healthy" }
              : {
                  status: "stale",
                  server_time,
                  message: `Agent missed three report intervals (last seen ${agent.last_seen})`,
                };
        return c.json(answer);
      },
      [agentOrReader],
    ),
  );

  app.route(
    "/",
    resource(kit, "/api/agents", [
      {
        method: "GET",
        role: "read",
        handler: async (c) => {
          const query = v.safeParse(AgentListQuerySchema, c.req.query());
          if (!query.success) {
            throw new ApiError(
              400,
              "bad_parameters",
              `the query parameters are not valid: ${v.summarize(query.issues)}`,
              issuesOf(query.issues),
            );
          }
          const { total, agents: page } = await agents.list(query.output, clock());
          return c.json({
            count: page.length,
            total,
            limit: query.output.limit,
            offset: query.output.offset,
            agents: page,
          });
        },
      },
    ]),
  );

  app.route(
    "/",
    endpoint(kit, { method: "GET", path: "/api/agents/:id", role: "read" }, async (c) => {
      const id = agentIdParam(c.req.param("id"), "the path's agent id");
      const agent = await agents.get(id, clock());
      if (!agent) throw new ApiError(404, "not_found", `no agent ${id} was ever registered`);
      return c.json(commands ? { ...agent, commands: await commands.recent(id) } : agent);
    }),
  );

  return app;
}
