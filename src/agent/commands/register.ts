// `relevo-agent register --url URL --enroll-token T`: enrolls this machine once (POST /api/agents/register)
// and keeps the agent id and its own token in the state directory, where `run` finds them. Registering
// again (same machine) keeps the id and replaces the token.
import { readFileSync } from "node:fs";
import { hostname, release } from "node:os";
import { defineCommand } from "citty";
import * as v from "valibot";
import { RegisterAnswerSchema, type RegisterRequest } from "../../shared/agents.ts";
import { ErrorBodySchema } from "../../shared/api.ts";
import { UsageError } from "../../shared/cli.ts";
import { errorMessage } from "../../shared/errors.ts";
import { logger, setLogLevel } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import { identityPath, writeIdentity } from "../identity.ts";
import { machineId } from "../machine-id.ts";
import { commonArgs, loadSettings, settingArgs } from "./_args.ts";

const OS_TYPES: Partial<Record<NodeJS.Platform, string>> = {
  linux: "Linux",
  win32: "Windows",
  darwin: "macOS",
};

/** The server's base URL from the upload URL the settings hold. */
export function serverBase(uploadUrl: URL): URL {
  const base = new URL(uploadUrl.href);
  base.pathname = base.pathname.replace(/\/upload$/, "") || "/";
  base.search = "";
  return base;
}

export default defineCommand({
  meta: {
    name: "register",
    description: "Enroll this machine with the server; run then uses its own id and token",
  },
  args: {
    ...settingArgs(["url"]),
    "enroll-token": {
      type: "string",
      description: "An enroll token (relevo-server token create --role enroll)",
    },
    ...settingArgs(["spool", "ca", "timeout"]),
    ...commonArgs,
  },
  async run({ args }) {
    setLogLevel(args.verbose ? 4 : 3);
    const settings = await loadSettings(args);
    if (!settings.uploadUrl)
      throw new UsageError('register needs --url (or RELEVO_URL, or "url" in the config file)');
    const enroll = typeof args["enroll-token"] === "string" ? args["enroll-token"].trim() : undefined;
    if (enroll !== undefined && !/^[\x21-\x7e]{1,512}$/.test(enroll)) {
      throw new UsageError("--enroll-token must be one word of printable ASCII");
    }
    let ca: string | undefined;
    if (settings.caFile) {
      try {
        ca = readFileSync(settings.caFile, "utf8");
      } catch (error) {
        throw new UsageError(`cannot read the CA file ${settings.caFile}: ${errorMessage(error)}`);
      }
    }
    const base = serverBase(settings.uploadUrl);
    const url = new URL("api/agents/register", base.href.endsWith("/") ? base.href : `${base.href}/`);
    const body: RegisterRequest = {
      hostname: hostname(),
      os_type: OS_TYPES[process.platform] ?? process.platform,
      os_version: release(),
      agent_version: VERSION,
      machine_id: machineId(process.platform, process.env),
    };
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": `relevo-agent/${VERSION}`,
          ...(enroll ? { Authorization: `Bearer ${enroll}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(settings.timeoutS * 1000),
        ...(ca ? { tls: { ca } } : {}),
      });
    } catch (error) {
      throw new Error(`cannot reach ${url.origin}: ${errorMessage(error)}`);
    }
    const json: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      const refusal = v.safeParse(ErrorBodySchema, json);
      const why = refusal.success
        ? `${refusal.output.error.code}: ${refusal.output.error.message}`
        : response.statusText;
      const hint =
        response.status === 401 || response.status === 403 ? " (is --enroll-token an enroll token?)" : "";
      throw new Error(`the server refused the registration (${response.status} ${why})${hint}`);
    }
    const answer = v.safeParse(RegisterAnswerSchema, json);
    if (!answer.success)
      throw new Error(`the server's answer is not a registration: ${v.summarize(answer.issues)}`);
    const path = identityPath(settings.spoolDir);
    await writeIdentity(path, {
      agent_id: answer.output.agent_id,
      token: answer.output.token,
      server: base.href,
      registered_at: new Date().toISOString(),
    });
    logger("agent").success(
      `registered as agent ${answer.output.agent_id} with ${base.origin}; identity kept in ${path}`,
    );
    console.log(answer.output.agent_id);
  },
});
