// Counts every answered request under the route template it matched (never the raw URL, so label values
// stay the few paths the app declares), its method and status, and times it.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import type { ServerMetrics } from "./server-metrics.ts";

/** What an unmatched request (404 from notFound) is counted under. */
export const UNMATCHED = "unmatched";

export function countRequests(metrics: ServerMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      // After next(), routePath is that of the last handler that ran: the route's own, or "*" when only
      // the app-wide middleware matched.
      const path = c.req.routePath;
      const route = !path || path === "*" || path === "/*" ? UNMATCHED : path;
      metrics.request(route, c.req.method, c.res.status, (performance.now() - started) / 1000);
    }
  };
}
