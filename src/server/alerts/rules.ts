// The alert rules file given by --alerts FILE (YAML or JSON), checked at start: a mistake stops the server
// with the path and problem of every bad field, never a rule that silently does nothing.
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { errorMessage } from "../../shared/errors.ts";
import { SEVERITIES } from "../../shared/logs.ts";
import { FIELDS } from "./fields.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "10m", "1h", "500ms" to milliseconds; null if it is not one. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  return match ? Number(match[1]) * (UNITS[match[2] as string] as number) : null;
}

const Duration = v.pipe(
  v.string(),
  v.check(
    (text) => parseDuration(text) !== null,
    'a duration is a whole number with ms, s, m, h or d, e.g. "10m"',
  ),
  v.transform((text) => parseDuration(text) as number),
);
const Name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/, "a name is 1 to 64 of A-Z a-z 0-9 . _ -"));
const Severity = v.optional(v.picklist(["critical", "warning", "info"]), "warning");

const common = {
  name: Name,
  severity: Severity,
  /** Webhook names; default every webhook. */
  webhooks: v.optional(v.array(Name)),
};

const fieldNames = Object.keys(FIELDS);
const ThresholdRule = v.strictObject({
  ...common,
  type: v.literal("threshold"),
  field: v.picklist(fieldNames as [string, ...string[]], `field is one of ${fieldNames.join(", ")}`),
  op: v.picklist([">", ">=", "<", "<="]),
  value: v.pipe(v.number(), v.finite()),
  /** The condition must hold this long (over consecutive reports) before the alert fires. */
  for: v.optional(Duration, "0s"),
});

const SilentRule = v.strictObject({
  ...common,
  type: v.literal("silent"),
  /** Silent once no report came for this many report intervals. */
  intervals: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)),
  /** The report interval; default the server's --next-report-in, or 300 s. */
  interval: v.optional(Duration),
});

const CollectorErrorsRule = v.strictObject({
  ...common,
  type: v.literal("collector_errors"),
  /** Only these collectors count; default any. */
  collectors: v.optional(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64)))),
});

const LogRateRule = v.strictObject({
  ...common,
  type: v.literal("log_rate"),
  /** Entries of this severity or worse ... */
  severity_at_least: v.picklist(SEVERITIES),
  /** ... at least this many within the window fire the alert. */
  count: v.pipe(v.number(), v.integer(), v.minValue(1)),
  window: Duration,
  service: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))),
});

const Rule = v.variant("type", [ThresholdRule, SilentRule, CollectorErrorsRule, LogRateRule]);

const Webhook = v.strictObject({
  name: Name,
  url: v.pipe(
    v.string(),
    v.url(),
    v.check((url) => /^https?:\/\//i.test(url), "a webhook url is http:// or https://"),
  ),
  /** json: relevo's own body; slack: {"text": ...}, which Slack and Teams incoming webhooks take. */
  format: v.optional(v.picklist(["json", "slack"]), "json"),
});

export const AlertsFileSchema = v.pipe(
  v.strictObject({
    webhooks: v.optional(v.array(Webhook), []),
    rules: v.pipe(v.array(Rule), v.minLength(1, "rules lists at least one rule")),
    /** How often silence and log rates are checked (default 30 s). */
    evaluate_every: v.optional(Duration, "30s"),
    retry: v.optional(
      v.strictObject({
        attempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)), 10),
        initial: v.optional(Duration, "1s"),
        max: v.optional(Duration, "5m"),
      }),
      {},
    ),
  }),
  v.check(
    (file) => new Set(file.rules.map((rule) => rule.name)).size === file.rules.length,
    "two rules have the same name",
  ),
  v.check(
    (file) => new Set(file.webhooks.map((hook) => hook.name)).size === file.webhooks.length,
    "two webhooks have the same name",
  ),
  v.check((file) => {
    const names = new Set(file.webhooks.map((hook) => hook.name));
    return file.rules.every((rule) => (rule.webhooks ?? []).every((name) => names.has(name)));
  }, "a rule names a webhook that is not in webhooks"),
);

export type AlertsFile = v.InferOutput<typeof AlertsFileSchema>;
export type AlertRule = AlertsFile["rules"][number];
export type WebhookConfig = AlertsFile["webhooks"][number];

export class AlertsFileError extends Error {
  override name = "AlertsFileError";
}

/**
 * Parses the text of a rules file: JSON for a `.json` name, YAML for any other (JSON is YAML too, so a
 * service's copy named plainly `alerts` reads either).
 */
export function parseAlertsText(text: string, file: string): AlertsFile {
  const json = /\.json$/i.test(file);
  let data: unknown;
  try {
    data = json ? JSON.parse(text) : Bun.YAML.parse(text);
  } catch (error) {
    throw new AlertsFileError(`${file} is not valid ${json ? "JSON" : "YAML"}: ${errorMessage(error)}`);
  }
  const parsed = v.safeParse(AlertsFileSchema, data);
  if (!parsed.success) {
    const lines = parsed.issues.map((issue) => {
      const path = v.getDotPath(issue);
      return `  ${path ?? "(the file)"}: ${issue.message}`;
    });
    throw new AlertsFileError(`${file} has ${lines.length} problem(s):\n${lines.join("\n")}`);
  }
  return parsed.output;
}

export function readAlertsFile(file: string): AlertsFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new AlertsFileError(`--alerts ${file} cannot be read: ${errorMessage(error)}`);
  }
  return parseAlertsText(text, file);
}
