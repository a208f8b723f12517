// `relevo-agent collect [--pretty]`: one report on stdout, nothing sent. Logs go to stderr, so
// `relevo-agent collect | jq` sees only the report.
import { defineCommand } from "citty";
import { writeStdout } from "../../shared/cli.ts";
import { logger, setLogLevel } from "../../shared/log.ts";
import { checkReport } from "../../shared/report.ts";
import { collectReport } from "../collect/index.ts";
import { commonArgs, loadSettings } from "./_args.ts";
import { collectorOptions } from "./_collector.ts";

export default defineCommand({
  meta: { name: "collect", description: "Print one report as JSON on stdout; send nothing" },
  args: {
    pretty: { type: "boolean", description: "Indent the JSON for people" },
    ...commonArgs,
  },
  async run({ args }) {
    // Explicit: consola would go quiet under NODE_ENV=test, which child processes of `bun test` inherit.
    setLogLevel(args.verbose ? 4 : 3);
    const settings = await loadSettings(args);
    const report = await collectReport(await collectorOptions(process.platform, settings.commandLines));
    const check = checkReport(report);
    if (!check.ok) {
      const issues = check.issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`);
      logger("collect").warn(
        `the report does not pass the schema (the server would refuse it): ${issues.join("; ")}`,
      );
    }
    for (const error of report.errors)
      logger("collect").warn(`collector ${error.collector}: ${error.message}`);
    await writeStdout(`${JSON.stringify(report, null, args.pretty ? 2 : undefined)}\n`);
  },
});
