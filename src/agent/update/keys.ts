// The public keys an update must be signed with: those built in (scripts/build.ts --update-key, at most
// two so a key can be rotated) and one more from --update-key at install. No key: no update runs.
import { readFileSync } from "node:fs";
import { errorMessage } from "../../shared/errors.ts";
import { type PublicKey, parsePublicKey } from "../../shared/release/minisign.ts";

declare const RELEVO_UPDATE_KEYS: string | undefined;

const BUILT_IN: string = typeof RELEVO_UPDATE_KEYS === "string" ? RELEVO_UPDATE_KEYS : "";

export function builtInKeys(): PublicKey[] {
  return BUILT_IN.split(",")
    .filter(Boolean)
    .slice(0, 2)
    .map((line) => parsePublicKey(line));
}

export function trustedKeys(updateKeyFile: string | undefined): PublicKey[] {
  const keys = builtInKeys();
  if (updateKeyFile) {
    try {
      keys.push(parsePublicKey(readFileSync(updateKeyFile, "utf8")));
    } catch (error) {
      throw new Error(`the update key ${updateKeyFile} cannot be used: ${errorMessage(error)}`);
    }
  }
  return keys;
}
