// GET /api/alerts: one definition for the server that answers it and the dashboard that shows it.
import * as v from "valibot";

export const AlertSchema = v.object({
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
export type Alert = v.InferOutput<typeof AlertSchema>;
export type AlertsAnswer = v.InferOutput<typeof AlertsAnswerSchema>;
