// GET /metrics: the Prometheus text exposition, for `read` or `metrics` tokens (or anyone with
// --metrics-public, for a scraper on a private network).
import type { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import type { ServerMetrics } from "../metrics/server-metrics.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

export function metricsRoute(kit: RouteKit, metrics: ServerMetrics, open: boolean): Hono<AppEnv> {
  return endpoint(
    kit,
    {
      method: "GET",
      path: "/metrics",
      role: open ? null : ["read", "metrics"],
      doc: {
        tags: ["operations"],
        summary: "Prometheus metrics (text exposition format 0.0.4)",
        description:
          "Requests by route and status, latencies, journal fsyncs, store, logs, hosts known and silent, agents by version, process. No per-host labels unless the server runs with --metrics-per-host N.",
        responses: { 200: { description: "The metrics", media: "text/plain" } },
      },
    },
    async (c) =>
      c.body(await metrics.registry.render(), 200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      }),
  );
}
