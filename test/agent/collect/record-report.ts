// Records test/fixtures/report.json: a real report of this machine from the collector, pretty-printed.
// `bun test/agent/collect/record-report.ts`. Command lines are kept only for a few harmless programs: on a
// developer or CI machine, others can carry tokens in their arguments, and this file is committed.
import { join } from "node:path";
import { collectReport } from "../../../src/agent/collect/index.ts";
import { checkReport } from "../../../src/shared/report.ts";

const KEEP_COMMAND = new Set([
  "bash",
  "sh",
  "bun",
  "node",
  "sleep",
  "tail",
  "grep",
  "timeout",
  "sshd",
  "cron",
  "systemd",
]);

const report = await collectReport({});
for (const process of report.processes.list) {
  if (!KEEP_COMMAND.has(process.name) || /--env|token|secret|password|key=/i.test(process.command)) {
    process.command = "";
  }
}
const check = checkReport(report);
if (!check.ok)
  throw new Error(`the recorded report does not pass the schema: ${JSON.stringify(check.issues)}`);
const path = join(import.meta.dir, "..", "..", "fixtures", "report.json");
await Bun.write(path, `${JSON.stringify(report, null, 2)}\n`);
console.error(`wrote ${path}: ${report.processes.total} processes, ${report.errors.length} errors`);
