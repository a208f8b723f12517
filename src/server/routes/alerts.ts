// GET /api/alerts: the alerts firing now and the most recently resolved, for `read` tokens.
import type { Hono } from "hono";
import { type AlertsAnswer, AlertsAnswerSchema } from "../../shared/alerts.ts";
import type { AlertEngine } from "../alerts/engine.ts";
import type { AppEnv } from "../env.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

export function alertsRoute(kit: RouteKit, engine: AlertEngine): Hono<AppEnv> {
  return endpoint(
    kit,
    {
      method: "GET",
      path: "/api/alerts",
      role: "read",
      doc: {
        tags: ["alerts"],
        summary: "Alerts firing now, and the 50 most recently resolved",
        responses: { 200: { description: "The alerts", schema: AlertsAnswerSchema } },
      },
    },
    async (c) => {
      const { firing, recent } = await engine.list();
      const shape = (row: (typeof firing)[number]) => ({
        rule: row.rule,
        subject: row.subject,
        state: row.state,
        severity: row.severity as "critical" | "warning" | "info",
        started_at: new Date(row.started_at).toISOString(),
        resolved_at: row.resolved_at === null ? null : new Date(row.resolved_at).toISOString(),
        value: row.value,
        message: row.message,
      });
      const answer: AlertsAnswer = { firing: firing.map(shape), recent: recent.map(shape) };
      return c.json(answer);
    },
  );
}
