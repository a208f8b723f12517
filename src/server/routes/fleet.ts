import type { Hono } from "hono";
import type { AppEnv, AppOptions } from "../context.ts";

export function fleetRoutes(app: Hono<AppEnv>, options: Required<AppOptions>, startedAt: number): void {
  const { store, clock } = options;

  app.get("/hosts", (c) => {
    const hosts = store.hosts();
    return c.json({ count: hosts.length, hosts });
  });

  app.get("/health", (c) => {
    const health = store.health();
    return c.json({
      status: health.writable ? "ok" : "degraded",
      version: options.version,
      uptime_s: Math.max(0, Math.round((clock().getTime() - startedAt) / 1000)),
      store: health,
      ...(options.logs ? { logs: options.logs.health() } : {}),
    });
  });
}
