// The operations endpoints in one place: /openapi.json and /docs always, /metrics and /api/alerts when the
// server was built with them. `whole` is the finished app, which the OpenAPI document lists.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import type { RouteKit } from "./_endpoint.ts";
import { alertsRoute } from "./alerts.ts";
import { metricsRoute } from "./metrics.ts";
import { openApiRoutes } from "./openapi.ts";

export function opsRoutes(kit: RouteKit, whole: Hono<AppEnv>): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route("/", openApiRoutes(kit, whole));
  const ops = kit.options.ops;
  if (ops?.metrics) app.route("/", metricsRoute(kit, ops.metrics, ops.metricsPublic));
  if (ops?.alerts) app.route("/", alertsRoute(kit, ops.alerts));
  return app;
}
