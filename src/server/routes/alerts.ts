// GET /api/alerts: the alerts firing now and the most recently resolved, for `read` tokens.
import type { Hono } from "hono";
import * as v from "valibot";
import type { AlertEngine } from "../alerts/engine.ts";
import type { AppEnv } from "../env.ts";
import { endpoint, type RouteKit } from "./_endpoint.ts";

const AlertSchema = v.object({
  rule: v.string(),
  subject: v.pipe(v.string(), v.description('The host\'s address, or the log service ("*": every service)')),
  state: v.picklist(["firing", "resolved"]),
  severity: v.picklist(["critical", "warning", "info"]),
  started_at: v.string(),
  resolved_at: v.nullable(v.string()),
  value: v.nullable(v.number()),
  message: v.string(),
});
export const AlertsAnswerSchema = v.object({ firing: v.array(AlertSchema), recent: v.array(AlertSchema) });
export type AlertsAnswer = v.InferOutput<typeof AlertsAnswerSchema>;

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
    (c) => {
      const { firing, recent } = engine.list();
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
