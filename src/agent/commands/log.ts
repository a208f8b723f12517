// `relevo-agent log --service S --severity LEVEL MESSAGE...`: one entry to the server's POST /logs. With `-`
// as the message, each line of stdin is an entry, sent in batches of up to 500 as lines arrive (so
// `tail -f | relevo-agent log ... -` works). What the server cannot take now is kept in the spool and sent by
// `relevo-agent run`; the command still exits 0 then (with a warning), since the entries are safe.
import { defineCommand } from "citty";
import * as v from "valibot";
import { UsageError } from "../../shared/cli.ts";
import { logger, setLogLevel } from "../../shared/log.ts";
import { type LogEntryInput, ServiceSchema, SeveritySchema } from "../../shared/logs.ts";
import { BATCH_ENTRIES, LogShipper, makeEntry } from "../log-shipper.ts";
import { commonArgs, loadSettings, readCa, settingArgs } from "./_args.ts";

export default defineCommand({
  meta: {
    name: "log",
    description: "Send a log entry (or, with -, each line of stdin) to the server; keep what cannot be sent",
  },
  args: {
    service: { type: "string", required: true, description: "The service the entries are from" },
    severity: {
      type: "string",
      default: "INFO",
      description: "DEBUG, INFO, WARNING (WARN), ERROR or CRITICAL, any case",
    },
    message: {
      type: "positional",
      required: true,
      valueHint: "MESSAGE...",
      description: "The words of the message, or - to send each line of stdin",
    },
    ...settingArgs(["url", "token", "spool", "ca", "timeout", "spoolMaxReports", "spoolMaxBytes"]),
    ...commonArgs,
  },
  async run({ args }) {
    setLogLevel(args.verbose ? 4 : 3);
    const log = logger("log");
    const service = v.safeParse(ServiceSchema, args.service);
    if (!service.success) throw new UsageError(`--service: ${service.issues[0].message}`);
    const severity = v.safeParse(SeveritySchema, args.severity);
    if (!severity.success) throw new UsageError(`--severity ${args.severity}: ${severity.issues[0].message}`);
    const words = args._.map(String);
    const fromStdin = words.length === 1 && words[0] === "-";
    if (!words.length) throw new UsageError("log needs a MESSAGE (or - to read lines from stdin)");

    const settings = await loadSettings(args);
    const uploadUrl = settings.uploadUrl;
    if (!uploadUrl) throw new UsageError('log needs --url (or RELEVO_URL, or "url" in the config file)');
    const ca = readCa(settings.caFile);
    const fields = { service: service.output, severity: severity.output };
    const shipper = new LogShipper({ settings: { ...settings, uploadUrl }, ca, now: Date.now, log });
    let bad = 0;
    try {
      if (!fromStdin) {
        const entry = makeEntry({ ...fields, message: words.join(" ") }, Date.now());
        if (typeof entry === "string") throw new UsageError(`the entry is not valid: ${entry}`);
        await shipper.ship([entry]);
      } else {
        const batch: LogEntryInput[] = [];
        let lineNo = 0;
        for await (const line of stdinLines(() => shipper.ship(batch.splice(0)))) {
          lineNo++;
          // Blank lines carry nothing worth an entry.
          if (!line.trim()) continue;
          const entry = makeEntry({ ...fields, message: line }, Date.now());
          if (typeof entry === "string") {
            bad++;
            log.error(`line ${lineNo} not sent: ${entry}`);
            continue;
          }
          batch.push(entry);
          if (batch.length >= BATCH_ENTRIES) await shipper.ship(batch.splice(0));
        }
        await shipper.ship(batch);
      }
    } finally {
      await shipper.close();
      if (shipper.kept) {
        log.warn(
          `${shipper.kept} entr${shipper.kept === 1 ? "y" : "ies"} kept in the spool ${settings.spoolDir} ` +
            `(${shipper.awayReason}); relevo-agent run sends them`,
        );
      }
      log.debug(`${shipper.delivered} entries delivered`);
    }
    if (bad) throw new Error(`${bad} line${bad === 1 ? "" : "s"} of stdin not sent (see above)`);
  },
});

/**
 * Lines of stdin as they come (a trailing \r dropped); `flush` is awaited each time stdin has no more to give
 * right now, so a slow writer's lines are not held back for a batch to fill.
 */
async function* stdinLines(flush: () => Promise<void>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of Bun.stdin.stream()) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) yield line.replace(/\r$/, "");
    await flush();
  }
  rest += decoder.decode();
  if (rest) yield rest.replace(/\r$/, "");
}
