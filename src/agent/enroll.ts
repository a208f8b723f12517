// Registration with the server (POST /api/agents/register), shared by `register` and by `run
// --enroll-token` on a first start: the machine's name, OS and machine id go up, the agent id and its own
// token come back and are kept in the identity file before anyone is told.
import { hostname, release } from "node:os";
import * as v from "valibot";
import { RegisterAnswerSchema, type RegisterRequest } from "../shared/agents.ts";
import { ErrorBodySchema } from "../shared/api.ts";
import { errorMessage } from "../shared/errors.ts";
import { VERSION } from "../shared/version.ts";
import { type AgentIdentity, identityPath, writeIdentity } from "./identity.ts";
import { machineId } from "./machine-id.ts";

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

export interface EnrollRequest {
  uploadUrl: URL;
  spoolDir: string;
  timeoutS: number;
  enrollToken: string | undefined;
  ca: string | undefined;
}

export async function enroll(request: EnrollRequest): Promise<AgentIdentity> {
  const base = serverBase(request.uploadUrl);
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
        ...(request.enrollToken ? { Authorization: `Bearer ${request.enrollToken}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(request.timeoutS * 1000),
      ...(request.ca ? { tls: { ca: request.ca } } : {}),
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
      response.status === 401 || response.status === 403 ? " (is the enroll token an enroll token?)" : "";
    throw new Error(`the server refused the registration (${response.status} ${why})${hint}`);
  }
  const answer = v.safeParse(RegisterAnswerSchema, json);
  if (!answer.success) {
    throw new Error(`the server's answer is not a registration: ${v.summarize(answer.issues)}`);
  }
  const identity: AgentIdentity = {
    agent_id: answer.output.agent_id,
    token: answer.output.token,
    server: base.href,
    registered_at: new Date().toISOString(),
  };
  await writeIdentity(identityPath(request.spoolDir), identity);
  return identity;
}
