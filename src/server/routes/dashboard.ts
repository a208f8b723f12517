// The dashboard's scripts and styles (GET /chunk-<hash>.js|css), open to anyone like the page shell: they
// carry no data. Every number the dashboard shows comes from the token-checked JSON API.
import type { Hono } from "hono";
import { dashboardBundle } from "../dashboard/bundle.ts";
import { assetResponse } from "../dashboard/respond.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http-error.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

export function dashboardRoutes(kit: RouteKit): Hono<AppEnv> {
  return endpoint(
    kit,
    { method: "GET", path: "/:asset{[A-Za-z0-9_-]+\\.(?:js|css)}", role: null },
    async (c) => {
      const file = (await dashboardBundle()).assets.get(c.req.path);
      if (!file) throw new ApiError(404, "not_found", `no such endpoint: ${c.req.path}`);
      return assetResponse(c.req.raw, file, { immutable: true });
    },
  );
}
