// GET /hosts (the latest summary per host, for `read` tokens) and GET /health (anyone).
import { Hono } from "hono";
import { type HealthAnswer, HealthAnswerSchema } from "../../shared/api.ts";
import type { AppEnv } from "../env.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

export function fleetRoutes(kit: RouteKit): Hono<AppEnv> {
  const { store, clock, version } = kit.options;
  const app = new Hono<AppEnv>();

  app.route(
    "/",
    endpoint(
      kit,
      {
        method: "GET",
        path: "/hosts",
        role: "read",
        doc: {
          tags: ["fleet"],
          summary: "The latest summary of every host, from memory",
          responses: { 200: { description: "{ count, hosts }", media: "application/json" } },
        },
      },
      async (c) => {
        const hosts = await store.hosts();
        return c.json({ count: hosts.length, hosts });
      },
    ),
  );

  app.route(
    "/",
    endpoint(
      kit,
      {
        method: "GET",
        path: "/health",
        role: null,
        doc: {
          tags: ["fleet"],
          summary: "Whether the store (and logs) take writes; for load balancers and HEALTHCHECK",
          responses: { 200: { description: "Health", schema: HealthAnswerSchema } },
        },
      },
      async (c) => {
        const health = await store.health();
        const answer: HealthAnswer = {
          status: health.writable ? "ok" : "degraded",
          version,
          uptime_s: Math.max(0, Math.round((clock().getTime() - kit.startedAt) / 1000)),
          store: health,
          ...(kit.options.logs ? { logs: await kit.options.logs.health() } : {}),
          ...(kit.options.archive ? { archive: kit.options.archive.health() } : {}),
        };
        return c.json(answer);
      },
    ),
  );

  return app;
}
