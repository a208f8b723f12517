// What a webhook receives: relevo's own JSON (every field of the alert), or {"text": ...}, the body Slack
// and Microsoft Teams incoming webhooks both accept.
import type { AlertRow } from "./alert-db.ts";

export function notification(
  format: "json" | "slack",
  row: AlertRow,
  hostname: string | null,
): Record<string, unknown> {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  if (format === "slack") {
    const mark = row.state === "firing" ? (row.severity === "critical" ? "🔴" : "🟠") : "✅";
    const who = hostname ? `${hostname} (${row.subject})` : row.subject;
    const what = row.state === "firing" ? row.message : `resolved: ${row.message}`;
    return { text: `${mark} [${row.severity}] ${row.rule} on ${who}: ${what}` };
  }
  return {
    version: 1,
    status: row.state,
    rule: row.rule,
    severity: row.severity,
    subject: row.subject,
    hostname,
    value: row.value,
    message: row.message,
    started_at: iso(row.started_at),
    resolved_at: iso(row.resolved_at),
  };
}
