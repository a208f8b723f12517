// The Hono app, built from its parts so tests call app.request() with a real store and no port. Each
// route file is a sub-app that declares its own method, path and role.
import { Hono } from "hono";
import { requireRole } from "./auth/guard.ts";
import { clientIp } from "./client-ip.ts";
import type { AppEnv } from "./env.ts";
import { ApiError, toErrorResponse } from "./http-error.ts";
import { limitBySource, limitByToken, RateLimiter } from "./limits.ts";
import { countRequests } from "./metrics/middleware.ts";
import type { AppOptions, ResolvedOptions } from "./options.ts";
import type { RouteKit } from "./routes/_endpoint.ts";
import { agentRoutes } from "./routes/agents.ts";
import { controlRoutes } from "./routes/control.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { fleetRoutes } from "./routes/fleet.ts";
import { logsRoutes } from "./routes/logs.ts";
import { opsRoutes } from "./routes/ops.ts";
import { queryRoutes } from "./routes/query.ts";
import { softwareRoutes } from "./routes/software.ts";
import { uploadRoute } from "./routes/upload.ts";
import { welcomeRoute } from "./routes/welcome.ts";

export type { AppOptions } from "./options.ts";

export function createApp(input: AppOptions): Hono<AppEnv> {
  const maxUploads = input.maxUploads ?? 256;
  const options: ResolvedOptions = {
    clock: () => new Date(),
    maxBody: 8 * 1024 * 1024,
    trustProxy: [],
    nextReportIn: null,
    auth: { mode: "off", registry: null },
    rateLimit: 0,
    maxUploads,
    maxUploadsPerSource: Math.min(maxUploads, Math.max(16, Math.floor(maxUploads / 8))),
    bodyTimeoutMs: 30_000,
    logs: null,
    agents: null,
    ops: null,
    releases: null,
    commands: null,
    software: null,
    archive: null,
    ...input,
  };
  const { clock } = options;
  const app = new Hono<AppEnv>();
  const perSecond = options.rateLimit;
  const limiter = perSecond > 0 ? new RateLimiter(perSecond, perSecond * 2) : null;
  const byToken = limiter ? limitByToken(limiter, clock) : null;
  const { agents } = options;
  // An enrolled agent's own token uploads like an ingest token.
  const auth = agents
    ? { ...options.auth, agentToken: (token: string) => agents.byToken(token) }
    : options.auth;
  const kit: RouteKit = {
    options,
    startedAt: clock().getTime(),
    guard(role) {
      const check = requireRole(role, auth, clock);
      if (!byToken) return check;
      return (c, next) =>
        check(c, async () => {
          await byToken(c, next);
        });
    },
  };

  app.use("*", async (c, next) => {
    c.set("clientIp", clientIp(c.env?.ip, c.req.header("x-forwarded-for") ?? null, options.trustProxy));
    return next();
  });
  if (options.ops?.metrics) app.use("*", countRequests(options.ops.metrics));
  if (limiter) app.use("*", limitBySource(limiter, clock));

  app.route("/", uploadRoute(kit));
  app.route("/", queryRoutes(kit));
  app.route("/", fleetRoutes(kit));
  if (options.logs) app.route("/", logsRoutes(kit, options.logs));
  app.route("/", welcomeRoute(kit));
  app.route("/", dashboardRoutes(kit));
  if (agents) app.route("/", agentRoutes(kit, agents, auth));
  app.route("/", opsRoutes(kit, app));
  if (agents) app.route("/", controlRoutes(kit, agents, auth));
  if (options.software) app.route("/", softwareRoutes(kit, options.software));

  app.notFound((c) => {
    throw new ApiError(404, "not_found", `no such endpoint: ${c.req.path}`);
  });
  app.onError(toErrorResponse);
  return app;
}
