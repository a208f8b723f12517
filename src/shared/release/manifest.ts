// A signed release: SHA256SUMS (`<hex>  <name>` lines) and SHA256SUMS.minisig, whose trusted comment names
// the version and date (`relevo-release version:1.2.0 date:2026-12-01T12:00:00Z`). Server and agent both
// check a release only through verifyRelease, so the version they act on is always the signed one.
import { parseSemver } from "../semver.ts";
import { MinisignError, type PublicKey, verify } from "./minisign.ts";

export const SUMS_FILE = "SHA256SUMS";
export const SIGNATURE_FILE = "SHA256SUMS.minisig";
/** Executable names a release may carry: relevo-<agent|server>-<os>-<arch>[.exe]. */
export const EXECUTABLE_NAME = /^relevo-(agent|server)-(linux|windows)-(x64|arm64)(\.exe)?$/;

export function trustedComment(version: string, date: Date): string {
  return `relevo-release version:${version} date:${date.toISOString()}`;
}

export function parseTrustedComment(comment: string): { version: string; date: string } | null {
  const m = /^relevo-release version:(\S+) date:(\S+)$/.exec(comment.trim());
  if (!m?.[1] || !m[2] || !parseSemver(m[1])) return null;
  return { version: m[1], date: m[2] };
}

/** name → sha256 hex; throws on a line that is not `<64 hex>  <name>` or a name seen twice. */
export function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const m = /^([0-9a-f]{64}) [ *]([A-Za-z0-9._-]{1,128})$/.exec(line.trimEnd());
    if (!m?.[1] || !m[2])
      throw new MinisignError(`${SUMS_FILE}: "${line.slice(0, 80)}" is not "<sha256>  <name>"`);
    if (sums.has(m[2])) throw new MinisignError(`${SUMS_FILE} names ${m[2]} twice`);
    sums.set(m[2], m[1]);
  }
  return sums;
}

export interface VerifiedRelease {
  version: string;
  date: string;
  keyId: string;
  sums: Map<string, string>;
}

/** The signature over SHA256SUMS checked against `keys`, and the signed version read from it. */
export async function verifyRelease(
  sumsText: string,
  signatureText: string,
  keys: readonly PublicKey[],
): Promise<VerifiedRelease> {
  const { key, trustedComment: comment } = await verify(
    new TextEncoder().encode(sumsText),
    signatureText,
    keys,
  );
  const meta = parseTrustedComment(comment);
  if (!meta) {
    throw new MinisignError(
      `the trusted comment "${comment.slice(0, 120)}" does not name a relevo release version`,
    );
  }
  return { ...meta, keyId: key.id, sums: parseSums(sumsText) };
}

export function sha256Hex(data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}
