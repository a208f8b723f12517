#!/usr/bin/env bun
// Signs a release directory's SHA256SUMS (made by scripts/build.ts) into SHA256SUMS.minisig, with the
// version and date in the trusted comment, so agents and `relevo-server release add` can check it:
//   bun scripts/sign-release.ts --key release.key [--version 1.2.0] [DIR, default dist]
// The secret key is minisign's unencrypted format (relevo-server release keygen); the release workflow
// passes it from a repository secret. `minisign -S -s KEY -m SHA256SUMS -t "<same comment>"` is equivalent.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { parseSums, SIGNATURE_FILE, SUMS_FILE, trustedComment } from "../src/shared/release/manifest.ts";
import { parseSecretKey, sign } from "../src/shared/release/minisign-sign.ts";
import { parseSemver } from "../src/shared/semver.ts";

export async function signRelease(dir: string, keyText: string, version: string, now: Date): Promise<string> {
  if (!parseSemver(version)) throw new Error(`--version must be a semantic version, got "${version}"`);
  const sumsPath = join(dir, SUMS_FILE);
  const sums = readFileSync(sumsPath);
  parseSums(sums.toString("utf8"));
  const signature = await sign(new Uint8Array(sums), parseSecretKey(keyText), trustedComment(version, now));
  const out = join(dir, SIGNATURE_FILE);
  writeFileSync(out, signature);
  return out;
}

if (import.meta.main) {
  try {
    const { values, positionals } = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: { key: { type: "string" }, version: { type: "string" } },
    });
    if (!values.key) throw new Error("--key FILE (the minisign secret key) is required");
    const dir = resolve(positionals[0] ?? "dist");
    const out = await signRelease(
      dir,
      readFileSync(values.key, "utf8"),
      values.version ?? pkg.version,
      new Date(),
    );
    console.error(`wrote ${out}`);
  } catch (error) {
    console.error(`sign-release: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
