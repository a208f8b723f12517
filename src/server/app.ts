// The Hono app, built from its parts so tests call app.request() with a real store and no port.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { errorMessage } from "../shared/errors.ts";
import { logger } from "../shared/log.ts";
import { requireRole } from "./auth/guard.ts";
import type { Role } from "./auth/tokens.ts";
import { clientIp } from "./client-ip.ts";
import type { AppEnv, AppOptions } from "./context.ts";
import { ApiError, errorBody } from "./http-error.ts";
import { capConcurrency, limitBySource, RateLimiter } from "./limits.ts";
import { fleetRoutes } from "./routes/fleet.ts";
import { logsRoutes } from "./routes/logs.ts";
import { queryRoutes } from "./routes/query.ts";
import { uploadRoutes } from "./routes/upload.ts";
import { StoreUnavailableError } from "./store/types.ts";

const httpLog = logger("http");
const ROUTES: Record<string, string> = {
  "/upload": "POST",
  "/query": "GET",
  "/files": "GET",
  "/hosts": "GET",
  "/health": "GET",
};

export function createApp(input: AppOptions): Hono<AppEnv> {
  const options: Required<AppOptions> = {
    clock: () => new Date(),
    maxBody: 8 * 1024 * 1024,
    trustProxy: [],
    nextReportIn: null,
    auth: { mode: "off", registry: null },
    rateLimit: 0,
    maxUploads: 256,
    bodyTimeoutMs: 30_000,
    logs: null,
    ...input,
  };
  const startedAt = options.clock().getTime();
  const app = new Hono<AppEnv>();
  const perSecond = options.rateLimit;
  const limiter = perSecond > 0 ? new RateLimiter(perSecond, perSecond * 2) : null;
  const guard = (role: Role) => requireRole(role, options.auth, limiter, options.clock);

  app.use("*", async (c, next) => {
    c.set("clientIp", clientIp(c.env?.ip, c.req.header("x-forwarded-for") ?? null, options.trustProxy));
    return next();
  });
  if (limiter) app.use("*", limitBySource(limiter));
  app.use("/upload", guard("ingest"), capConcurrency(options.maxUploads));
  for (const path of ["/query", "/files", "/hosts"]) app.use(path, guard("read"));

  uploadRoutes(app, options);
  queryRoutes(app, options);
  fleetRoutes(app, options, startedAt);
  if (options.logs) {
    // Until the `logs` role exists, agents' ingest tokens write logs (not bound to a service).
    const { logs, clock, maxBody, bodyTimeoutMs } = options;
    const routes = logsRoutes({
      logs,
      clock,
      maxBody,
      bodyTimeoutMs,
      writeGuard: guard("ingest"),
      readGuard: guard("read"),
    });
    app.route("/", routes as unknown as Hono<AppEnv>);
  }

  app.notFound((c) => {
    const allowed = ROUTES[c.req.path];
    if (allowed) {
      const methods = allowed === "GET" ? "GET, HEAD" : allowed;
      return c.json(
        errorBody("method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}; use ${allowed}`),
        405,
        {
          allow: methods,
        },
      );
    }
    return c.json(errorBody("not_found", `no such endpoint: ${c.req.path}`), 404);
  });

  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      const status = error.status >= 400 && error.status < 500 ? error.status : 400;
      return c.json(
        errorBody("bad_request", error.message || "the request could not be handled"),
        status as 400,
      );
    }
    if (error instanceof ApiError) {
      return c.json(errorBody(error.code, error.message, error.details), error.status, error.headers);
    }
    if (error instanceof StoreUnavailableError) {
      return c.json(errorBody("store_unavailable", error.message), 503, { "retry-after": "30" });
    }
    httpLog.error(`${c.req.method} ${c.req.path}: ${errorMessage(error)}`, error);
    return c.json(errorBody("internal", "the server failed to handle this request"), 500);
  });

  return app;
}
