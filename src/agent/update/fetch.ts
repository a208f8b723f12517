// One update check, up to a verified executable on disk: ask the server, check the signature over the
// release's SHA256SUMS with the trusted keys, refuse an older or equal version and one refused before,
// download, check the SHA-256, and run the file with --version to see it start. Every step logs one line;
// nothing here replaces anything.
import { chmodSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { UpdateCheckAnswerSchema } from "../../shared/agents.ts";
import { errorMessage } from "../../shared/errors.ts";
import { sha256Hex, verifyRelease } from "../../shared/release/manifest.ts";
import type { PublicKey } from "../../shared/release/minisign.ts";
import { compareSemver, parseSemver } from "../../shared/semver.ts";
import type { AgentLog } from "../_log.ts";
import { ensureUpdateDir, refusedVersions, refuseVersion } from "./state.ts";

/** The largest executable accepted (Bun's are ~100 MB). */
const MAX_BYTES = 512 * 1024 * 1024;

export interface UpdateContext {
  /** The server's base URL (ends with /). */
  base: URL;
  agentId: number;
  token: string | undefined;
  version: string;
  platform: string;
  keys: readonly PublicKey[];
  stateDir: string;
  ca: string | undefined;
  timeoutMs: number;
  log: AgentLog;
  now: () => Date;
}

export interface Candidate {
  version: string;
  /** The verified executable in the state directory. */
  path: string;
  file: string;
  sums: string;
  signature: string;
}

export type CheckResult =
  | { kind: "none"; message: string }
  | { kind: "refused"; message: string }
  | { kind: "failed"; message: string }
  | { kind: "ready"; candidate: Candidate; message: string };

export function agentPlatform(
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): string {
  return `${platform === "win32" ? "windows" : platform}-${arch}`;
}

function tls(ca: string | undefined) {
  return ca ? { tls: { ca } } : {};
}

/** Runs `path --version`; the output must be the version the release is signed as. */
export async function startsAs(path: string, version: string, timeoutMs = 30_000): Promise<string | null> {
  try {
    const proc = Bun.spawn([path, "--version"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    clearTimeout(timer);
    if (code !== 0) return `it exited with ${code} on --version`;
    if (out.trim() !== version) return `it says it is "${out.trim().slice(0, 40)}", not ${version}`;
    return null;
  } catch (error) {
    return `it does not start (${errorMessage(error)})`;
  }
}

export async function checkForUpdate(ctx: UpdateContext): Promise<CheckResult> {
  const { log } = ctx;
  // Refused for good only when the signed release itself is at fault (old, or does not start): what the
  // server merely claims (a version, a hash, a file name, a bad signature) must not let a compromised
  // server make the agent refuse a real release later.
  const refuse = (version: string, why: string, forGood = false): CheckResult => {
    if (forGood) refuseVersion(ctx.stateDir, version, why, ctx.now());
    const message = `update: refusing ${version}: ${why}`;
    log.warn(message);
    return { kind: "refused", message };
  };
  const fail = (why: string): CheckResult => {
    const message = `update: ${why}; trying again at the next check`;
    log.warn(message);
    return { kind: "failed", message };
  };
  if (!ctx.keys.length)
    return fail("no update key is trusted (built in or --update-key), so nothing can be verified");
  const headers: Record<string, string> = {
    "x-agent-id": String(ctx.agentId),
    "x-agent-version": ctx.version,
    "x-agent-platform": ctx.platform,
    "user-agent": `relevo-agent/${ctx.version}`,
    ...(ctx.token ? { authorization: `Bearer ${ctx.token}` } : {}),
  };
  let answer: v.InferOutput<typeof UpdateCheckAnswerSchema>;
  try {
    const response = await fetch(new URL("api/updates/check", ctx.base), {
      headers,
      signal: AbortSignal.timeout(ctx.timeoutMs),
      ...tls(ctx.ca),
    });
    if (!response.ok) return fail(`the update check answered ${response.status}`);
    const parsed = v.safeParse(UpdateCheckAnswerSchema, await response.json());
    if (!parsed.success)
      return fail(`the update check's answer is not valid (${v.summarize(parsed.issues)})`);
    answer = parsed.output;
  } catch (error) {
    return fail(`the update check failed (${errorMessage(error)})`);
  }
  if (!answer.update_available) {
    const message = `update: ${ctx.version} is current`;
    log.info(message);
    return { kind: "none", message };
  }
  const offered = answer.latest_version;
  if (refusedVersions(ctx.stateDir)[offered]) {
    const message = `update: ${offered} was refused before (${refusedVersions(ctx.stateDir)[offered]?.reason}); not trying it again`;
    log.info(message);
    return { kind: "refused", message };
  }
  if (!answer.sums || !answer.signature || !answer.sha256 || !answer.file) {
    return fail(`the server offers ${offered} without its signed SHA256SUMS`);
  }
  let signedVersion: string;
  let signedHash: string | undefined;
  try {
    const release = await verifyRelease(answer.sums, answer.signature, ctx.keys);
    signedVersion = release.version;
    signedHash = release.sums.get(answer.file);
  } catch (error) {
    return refuse(offered, `its signature does not verify (${errorMessage(error)})`);
  }
  log.info(`update: ${signedVersion} is signed by a trusted key`);
  if (signedVersion !== offered)
    return refuse(offered, `the signature is for ${signedVersion}, not ${offered}`);
  const own = parseSemver(ctx.version);
  const next = parseSemver(signedVersion);
  if (!own || !next || compareSemver(next, own) <= 0) {
    return refuse(signedVersion, `it is not newer than ${ctx.version} (no downgrades)`, true);
  }
  const expectedFile = `relevo-agent-${ctx.platform}${ctx.platform.startsWith("windows-") ? ".exe" : ""}`;
  if (answer.file !== expectedFile)
    return refuse(signedVersion, `it offers ${answer.file}, not ${expectedFile}`);
  if (!signedHash || signedHash !== answer.sha256) {
    return refuse(signedVersion, `its SHA-256 is not the one in the signed SHA256SUMS`);
  }
  const dir = ensureUpdateDir(ctx.stateDir);
  const part = join(dir, `${expectedFile}.${signedVersion}.download`);
  const path = join(dir, `${expectedFile}.${signedVersion}`);
  try {
    const url = new URL(answer.download_url, ctx.base);
    // The token goes only to our own server, never to an external download host.
    const ours = url.origin === ctx.base.origin;
    const response = await fetch(url, {
      headers: ours ? headers : { "user-agent": headers["user-agent"] ?? "" },
      signal: AbortSignal.timeout(Math.max(ctx.timeoutMs, 300_000)),
      ...tls(ours ? ctx.ca : undefined),
    });
    if (!response.ok || !response.body)
      return fail(`the download of ${signedVersion} answered ${response.status}`);
    const declared = Number(response.headers.get("content-length") ?? 0);
    if (declared > MAX_BYTES)
      return fail(`the download of ${signedVersion} is too large (${declared} bytes)`);
    const hash = new Bun.CryptoHasher("sha256");
    const sink = Bun.file(part).writer();
    let bytes = 0;
    for await (const chunk of response.body) {
      bytes += chunk.byteLength;
      if (bytes > MAX_BYTES) {
        await sink.end();
        rmSync(part, { force: true });
        return fail(`the download of ${signedVersion} is larger than ${MAX_BYTES} bytes`);
      }
      hash.update(chunk);
      sink.write(chunk);
    }
    await sink.end();
    const actual = hash.digest("hex");
    if (actual !== signedHash) {
      rmSync(part, { force: true });
      // Maybe a bit flip on the way: refused for this try only; the next check downloads again.
      return fail(
        `the downloaded ${signedVersion} has SHA-256 ${actual}, not the signed ${signedHash}; deleted`,
      );
    }
    log.info(`update: downloaded ${signedVersion} (${bytes} bytes), SHA-256 matches the signed sums`);
    chmodSync(part, 0o755);
    renameSync(part, path);
  } catch (error) {
    rmSync(part, { force: true });
    return fail(`the download of ${signedVersion} failed (${errorMessage(error)})`);
  }
  // Defence in depth: the file on disk is hashed once more right before it runs.
  if (sha256Hex(new Uint8Array(await Bun.file(path).arrayBuffer())) !== signedHash) {
    rmSync(path, { force: true });
    return fail(`${path} changed after the download; deleted`);
  }
  const broken = await startsAs(path, signedVersion);
  if (broken) {
    rmSync(path, { force: true });
    return refuse(signedVersion, `the new executable does not start: ${broken}`, true);
  }
  const message = `update: ${signedVersion} starts (--version); ready to install`;
  log.info(message);
  return {
    kind: "ready",
    candidate: {
      version: signedVersion,
      path,
      file: expectedFile,
      sums: answer.sums,
      signature: answer.signature,
    },
    message,
  };
}
