// `relevo-agent register --url URL --enroll-token T`: enrolls this machine once and keeps the agent id and
// its own token in the spool directory, where `run` finds them. Registering again (same machine) keeps the
// id and replaces the token.
import { defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { logger, setLogLevel } from "../../shared/log.ts";
import { enroll, serverBase } from "../enroll.ts";
import { identityPath } from "../identity.ts";
import { commonArgs, loadSettings, readCa, settingArgs } from "./_args.ts";

export default defineCommand({
  meta: {
    name: "register",
    description: "Enroll this machine with the server; run then uses its own id and token",
  },
  args: {
    ...settingArgs(["url", "enrollToken", "spool", "ca", "timeout"]),
    ...commonArgs,
  },
  async run({ args }) {
    setLogLevel(args.verbose ? 4 : 3);
    const settings = await loadSettings(args);
    if (!settings.uploadUrl) {
      throw new UsageError('register needs --url (or RELEVO_URL, or "url" in the config file)');
    }
    const ca = readCa(settings.caFile);
    const identity = await enroll({
      uploadUrl: settings.uploadUrl,
      spoolDir: settings.spoolDir,
      timeoutS: settings.timeoutS,
      enrollToken: settings.enrollToken,
      ca,
    });
    logger("agent").success(
      `registered as agent ${identity.agent_id} with ${serverBase(settings.uploadUrl).origin}; identity kept in ${identityPath(settings.spoolDir)}`,
    );
    console.log(identity.agent_id);
  },
});
