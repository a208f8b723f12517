// `relevo-agent run --url URL`: collect, send, repeat (or once with --once). SIGTERM and SIGINT stop it
// cleanly: the report in hand goes to the spool, the collector is closed, the spool lock released, exit 0.
import { defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";
import { logger, setLogLevel } from "../../shared/log.ts";
import { runAgent } from "../agent.ts";
import { createCollector } from "../collect/index.ts";
import { enroll } from "../enroll.ts";
import { identityPath, readIdentity } from "../identity.ts";
import { commonArgs, loadSettings, readCa, settingArgs } from "./_args.ts";
import { collectorOptions } from "./_collector.ts";

export default defineCommand({
  meta: { name: "run", description: "Collect and send a report every interval; keep what cannot be sent" },
  args: {
    ...settingArgs(["url", "interval"]),
    once: {
      type: "boolean",
      description: "One report (after the spool), then exit; non-zero if not delivered",
    },
    ...settingArgs(["token", "enrollToken", "spool", "ca", "timeout", "spoolMaxReports", "spoolMaxBytes"]),
    ...commonArgs,
  },
  async run({ args }) {
    setLogLevel(args.verbose ? 4 : 3);
    const settings = await loadSettings(args);
    const uploadUrl = settings.uploadUrl;
    if (!uploadUrl) throw new UsageError('run needs --url (or RELEVO_URL, or "url" in the config file)');
    const ca = readCa(settings.caFile);
    const log = logger("agent");
    // Enrolled (relevo-agent register): reports carry the agent id, uploads its own token unless --token.
    let identity = readIdentity(identityPath(settings.spoolDir));
    if (!identity && settings.enrollToken) {
      // First start of an installed agent: register now. If that fails, reports go unenrolled (and wait in
      // the spool if the server wants a token); the next start tries again.
      try {
        identity = await enroll({
          uploadUrl,
          spoolDir: settings.spoolDir,
          timeoutS: settings.timeoutS,
          enrollToken: settings.enrollToken,
          ca,
        });
        log.success(`registered as agent ${identity.agent_id}`);
      } catch (error) {
        log.error(`could not register: ${errorMessage(error)}; reporting without an agent id for now`);
      }
    }
    const token = settings.token ?? identity?.token;
    const controller = new AbortController();
    const stop = (signal: NodeJS.Signals) => {
      log.info(`${signal}: finishing the current step`);
      controller.abort();
    };
    // once: a second Ctrl-C falls through to the default handler and ends the process at once.
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    try {
      const collector = createCollector({
        ...(await collectorOptions(process.platform, settings.commandLines)),
        agentId: identity ? String(identity.agent_id) : null,
      });
      const result = await runAgent(
        { ...settings, uploadUrl, token },
        { collector, now: Date.now, random: Math.random, ca, log },
        { once: args.once === true, signal: controller.signal },
      );
      if (result && result.report !== "delivered") {
        const why = result.report === "spooled" ? `kept in the spool (${result.reason})` : result.message;
        throw new Error(`report ${result.reportId ?? ""} not delivered: ${why}`);
      }
      if (result) log.success(`report ${result.reportId} delivered to ${uploadUrl.href}`);
    } finally {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    }
  },
});
