// The agent's enrolled identity: its id and own token from `relevo-agent register`, kept in one file in the
// spool directory (the one directory the agent owns; an installed service's state directory), mode 0600, written whole (temporary file, fsync, rename) so a
// crash never leaves half a token. `run` reads it: every report carries the id, uploads use the token.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as v from "valibot";
import { errorCode, errorMessage } from "../shared/errors.ts";

export const IDENTITY_FILE = "agent-identity.json";

const IdentitySchema = v.object({
  agent_id: v.pipe(v.number(), v.integer(), v.minValue(1)),
  token: v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,512}$/)),
  /** The server it registered with (its base URL). */
  server: v.string(),
  registered_at: v.string(),
});
export type AgentIdentity = v.InferOutput<typeof IdentitySchema>;

/** In the spool directory, which the spool reads only `*.report` entries from. */
export function identityPath(spoolDir: string): string {
  return join(spoolDir, IDENTITY_FILE);
}

/** The identity, or null when the agent never registered; a damaged file is an error that says which. */
export function readIdentity(path: string): AgentIdentity | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return null;
    throw new Error(`cannot read the agent identity ${path}: ${errorMessage(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is damaged (${errorMessage(error)}): run relevo-agent register again`);
  }
  const parsed = v.safeParse(IdentitySchema, json);
  if (!parsed.success) {
    throw new Error(`${path} is damaged (${v.summarize(parsed.issues)}): run relevo-agent register again`);
  }
  return parsed.output;
}

export async function writeIdentity(path: string, identity: AgentIdentity): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.tmp`;
  const fd = openSync(temp, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(identity, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}
