// The --alerts file is checked at start: every mistake is named with its path, and the server does not start.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readField } from "../../../src/server/alerts/fields.ts";
import { AlertsFileError, parseAlertsText, parseDuration } from "../../../src/server/alerts/rules.ts";
import { serverSpec } from "../../../src/server/commands/install.ts";
import { sampleReport } from "../../helpers/report.ts";
import { BUN, REPO, tempDir } from "../../helpers/server.ts";

const YAML = `
webhooks:
  - name: ops
    url: http://127.0.0.1:9/hook
  - name: chat
    url: http://127.0.0.1:9/slack
    format: slack
rules:
  - name: cpu-high
    type: threshold
    field: cpu.load_percent
    op: ">"
    value: 90
    for: 10m
  - name: memory-low
    type: threshold
    field: memory.available_percent
    op: "<"
    value: 5
    webhooks: [chat]
  - name: disk-full
    type: threshold
    field: disks.used_percent
    op: ">"
    value: 90
  - name: quiet
    type: silent
    intervals: 3
  - name: collectors
    type: collector_errors
  - name: error-logs
    type: log_rate
    severity_at_least: ERROR
    count: 10
    window: 5m
`;

test("a YAML file with every kind of rule parses, with its defaults", () => {
  const file = parseAlertsText(YAML, "alerts.yaml");
  expect(file.rules.map((rule) => rule.type)).toEqual([
    "threshold",
    "threshold",
    "threshold",
    "silent",
    "collector_errors",
    "log_rate",
  ]);
  expect(file.rules[0]).toMatchObject({ for: 600_000, severity: "warning" });
  expect(file.webhooks[0]?.format).toBe("json");
  expect(file.evaluate_every).toBe(30_000);
  expect(file.retry).toEqual({ attempts: 10, initial: 1000, max: 300_000 });
});

test("the same rules as JSON parse the same", () => {
  const yaml = parseAlertsText(YAML, "alerts.yml");
  expect(parseAlertsText(JSON.stringify(Bun.YAML.parse(YAML)), "alerts.json")).toEqual(yaml);
});

test("every mistake is named with its path", () => {
  const bad = JSON.stringify({
    webhooks: [{ name: "ops", url: "ftp://x" }],
    rules: [
      { name: "a", type: "threshold", field: "cpu.nonsense", op: ">", value: 1 },
      { name: "b", type: "threshold", field: "cpu.load_percent", op: "!=", value: 1, for: "ten minutes" },
      { name: "c", type: "silent", intervals: 0 },
      { name: "d", type: "whatever" },
    ],
  });
  let message = "";
  try {
    parseAlertsText(bad, "alerts.json");
  } catch (error) {
    expect(error).toBeInstanceOf(AlertsFileError);
    message = (error as Error).message;
  }
  expect(message).toContain("webhooks.0.url");
  expect(message).toContain("rules.0.field: field is one of cpu.load_percent");
  expect(message).toContain("rules.1.op");
  expect(message).toContain("rules.1.for");
  expect(message).toContain("rules.2.intervals");
  expect(message).toContain("rules.3.type");
});

test("cross-field mistakes: a duplicate name, an unknown webhook, not YAML at all", () => {
  const rule = { name: "a", type: "collector_errors" };
  expect(() => parseAlertsText(JSON.stringify({ rules: [rule, rule] }), "a.json")).toThrow(
    "two rules have the same name",
  );
  expect(() =>
    parseAlertsText(JSON.stringify({ rules: [{ ...rule, webhooks: ["nope"] }] }), "a.json"),
  ).toThrow("a rule names a webhook that is not in webhooks");
  expect(() => parseAlertsText("rules: [unclosed", "a.yaml")).toThrow("a.yaml is not valid YAML");
  expect(() => parseAlertsText("{}", "a.json")).toThrow("rules");
});

test("durations", () => {
  expect(parseDuration("500ms")).toBe(500);
  expect(parseDuration("90s")).toBe(90_000);
  expect(parseDuration("10m")).toBe(600_000);
  expect(parseDuration("2h")).toBe(7_200_000);
  expect(parseDuration("1.5m")).toBeNull();
  expect(parseDuration("-1s")).toBeNull();
  expect(parseDuration("10")).toBeNull();
});

test("derived fields: memory available in percent, the fullest disk with its mount", () => {
  const report = sampleReport({
    memory: { total_bytes: 1000, available_bytes: 30, swap_total_bytes: 0, swap_used_bytes: 0 },
    disks: [
      { mount: "/", fs: "ext4", size_bytes: 100, used_bytes: 50, available_bytes: 50 },
      { mount: "/var", fs: "ext4", size_bytes: 100, used_bytes: 95, available_bytes: 5 },
    ],
  } as never);
  expect(readField("memory.available_percent", report)).toEqual({ value: 3 });
  expect(readField("disks.used_percent", report)).toEqual({ value: 95, detail: "/var" });
  // No swap: no value, so no alert either way.
  expect(readField("memory.swap_used_percent", report)).toBeNull();
});

test("the server does not start with a bad rules file, and says why", async () => {
  const dir = tempDir();
  const file = join(dir, "alerts.yaml");
  writeFileSync(
    file,
    "rules:\n  - name: x\n    type: threshold\n    field: cpu.bogus\n    op: '>'\n    value: 1\n",
  );
  const proc = Bun.spawn(
    [BUN, join(REPO, "src", "server", "cli.ts"), "serve", "--port", "0", "--data", dir, "--alerts", file],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  expect(code).not.toBe(0);
  expect(stderr).toContain("rules.0.field");
  expect(stderr).not.toContain("listening");
});

test("a file without an extension is read as YAML, which takes JSON too (the installed service's copy)", () => {
  const yaml = parseAlertsText(YAML, "alerts.yaml");
  expect(parseAlertsText(YAML, "alerts")).toEqual(yaml);
  expect(parseAlertsText(JSON.stringify(Bun.YAML.parse(YAML)), "alerts")).toEqual(yaml);
});

test("install hands --alerts (as a file of the service's own), --metrics-public and --metrics-per-host on", () => {
  const spec = serverSpec(
    { alerts: "/etc/relevo/alerts.yaml", "metrics-public": true, "metrics-per-host": "50" },
    { platform: "linux", cwd: "/" },
  );
  const args = spec.args("/var/lib/relevo");
  expect(args).toContainEqual({ file: "/etc/relevo/alerts.yaml", name: "alerts" });
  expect(args).toEqual(expect.arrayContaining(["--alerts", "--metrics-public", "--metrics-per-host", "50"]));
});
