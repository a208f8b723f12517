// `relevo-agent run --url URL`: collect, send, repeat (or once with --once). SIGTERM and SIGINT stop it
// cleanly: the report in hand goes to the spool, the collector is closed, the spool lock released, exit 0.
// An enrolled agent also keeps its command long-poll open and checks for updates (see ../update/).
import { defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";
import { logger, setLogLevel } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import { runAgent } from "../agent.ts";
import { createCollector } from "../collect/index.ts";
import { pollCommands, postOutcome } from "../commands-poll.ts";
import { enroll, serverBase } from "../enroll.ts";
import { identityPath, readIdentity } from "../identity.ts";
import { agentPlatform, type Candidate } from "../update/fetch.ts";
import { installMode, stage } from "../update/install-mode.ts";
import { trustedKeys } from "../update/keys.ts";
import { removeLeftovers, swapIn } from "../update/swap.ts";
import { confirmTrial, runTrial } from "../update/trial.ts";
import { Updater } from "../update/updater.ts";
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
    ...settingArgs([
      "token",
      "enrollToken",
      "spool",
      "ca",
      "timeout",
      "spoolMaxReports",
      "spoolMaxBytes",
      "updateKey",
      "noAutoUpdate",
    ]),
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
    const once = args.once === true;
    const mode = installMode(process.execPath, process.env);
    // A version rolled back on Windows may have been still running when it was to be deleted.
    if (mode === "swap") removeLeftovers(process.execPath);
    // A bad --update-key must not stop reporting: the built-in keys still count.
    let keys: ReturnType<typeof trustedKeys> = [];
    try {
      keys = trustedKeys(settings.updateKeyFile);
    } catch (error) {
      log.error(`${errorMessage(error)}; updates are checked with the built-in keys only`);
      keys = trustedKeys(undefined);
    }
    let stopping = false;
    let controller = new AbortController();
    const stop = (signal: NodeJS.Signals) => {
      log.info(`${signal}: finishing the current step`);
      stopping = true;
      controller.abort();
    };
    // once: a second Ctrl-C falls through to the default handler and ends the process at once.
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    try {
      for (;;) {
        let swap: { candidate: Candidate; commandId: number | null } | null = null;
        const base = serverBase(uploadUrl);
        const poll = identity
          ? {
              base: new URL(base.href.endsWith("/") ? base.href : `${base.href}/`),
              agentId: identity.agent_id,
              token,
              ca,
              log,
              random: Math.random,
            }
          : null;
        const updater = poll
          ? new Updater({
              enabled: settings.autoUpdate !== false && mode !== "none",
              log,
              random: Math.random,
              context: {
                base: poll.base,
                agentId: poll.agentId,
                token,
                version: VERSION,
                platform: agentPlatform(),
                keys,
                stateDir: settings.spoolDir,
                ca,
                timeoutMs: settings.timeoutS * 1000,
                log,
                now: () => new Date(),
              },
              onReady: async (candidate, commandId) => {
                if (mode === "stage") {
                  const ready = stage(settings.spoolDir, candidate);
                  const message = `update: ${candidate.version} staged (${ready}) for relevo-agent-update.service`;
                  log.info(message);
                  return message;
                }
                // The loop stops and releases the spool; the swap and the trial happen below.
                swap = { candidate, commandId };
                controller.abort();
                return `update: installing ${candidate.version}`;
              },
            })
          : null;
        const collector = createCollector({
          ...(await collectorOptions(process.platform, settings.commandLines)),
          agentId: identity ? String(identity.agent_id) : null,
        });
        const result = await runAgent(
          { ...settings, uploadUrl, token },
          {
            collector,
            now: Date.now,
            random: Math.random,
            ca,
            log,
            onDelivered: () => {
              confirmTrial(settings.spoolDir, VERSION, log);
            },
            companion:
              poll && updater && !once
                ? (agent, signal) =>
                    Promise.all([
                      pollCommands(
                        {
                          ...poll,
                          collectNow: () => agent.collectNow(),
                          update: async (id) => {
                            const outcome = await updater.check(id);
                            return swap ? null : outcome;
                          },
                        },
                        signal,
                      ),
                      updater.daily(signal),
                    ])
                : undefined,
          },
          { once, signal: controller.signal },
        );
        if (result && result.report !== "delivered") {
          const why = result.report === "spooled" ? `kept in the spool (${result.reason})` : result.message;
          throw new Error(`report ${result.reportId ?? ""} not delivered: ${why}`);
        }
        if (result) log.success(`report ${result.reportId} delivered to ${uploadUrl.href}`);
        const pending = swap as { candidate: Candidate; commandId: number | null } | null;
        if (!pending || stopping || !poll) break;
        controller = new AbortController();
        const outcome = await installNow(pending.candidate, settings.spoolDir, log, controller.signal);
        if (pending.commandId !== null) {
          const ok = outcome.kind === "confirmed";
          const version = pending.candidate.version;
          const message = ok ? `updated to ${version}` : `${version} rolled back: ${outcome.reason}`;
          await postOutcome(poll, pending.commandId, ok, message);
        }
        if (outcome.kind === "confirmed") {
          process.exitCode = await outcome.exited;
          break;
        }
        if (stopping) break;
        // Rolled back: this version reports again, and refuses the other one from now on.
      }
    } finally {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    }
  },
});

async function installNow(
  candidate: Candidate,
  stateDir: string,
  log: ReturnType<typeof logger>,
  signal: AbortSignal,
): Promise<Awaited<ReturnType<typeof runTrial>>> {
  let swapped: ReturnType<typeof swapIn>;
  try {
    swapped = swapIn(process.execPath, candidate.path);
    log.info(
      `update: ${candidate.version} is in place at ${swapped.executable} (previous kept at ${swapped.previous})`,
    );
  } catch (error) {
    const reason = `cannot replace ${process.execPath} (${errorMessage(error)})`;
    log.error(`update: ${reason}; ${VERSION} carries on`);
    return { kind: "rolled-back", reason };
  }
  return runTrial({
    swapped,
    version: candidate.version,
    from: VERSION,
    argv: process.argv.slice(2),
    stateDir,
    log,
    now: () => new Date(),
    signal,
  });
}
