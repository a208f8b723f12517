import type { Hono } from "hono";
import type { AppEnv, AppOptions } from "../context.ts";

export function fleetRoutes(app: Hono<AppEnv>, options: Required<AppOptions>, startedAt: number): void {
  const { store, clock } = options;

  app.get("/hosts", async (c) => {
    const hosts = await store.hosts();
    return c.json({ count: hosts.length, hosts });
  });

  app.get("/health", async (c) => {
    const health = await store.health();
    return c.json({
      status: health.writable ? "ok" : "degraded",
      version: options.version,
      uptime_s: Math.max(0, Math.round((clock().getTime() - startedAt) / 1000)),
      store: health,
    });
  });
}
