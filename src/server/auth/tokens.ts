// API tokens with roles, kept in <data>/tokens.json (mode 0600) as SHA-256 hashes only: the token itself is
// shown once, when it is created. The CLI writes this file; the server rereads it when it changes, so a
// revocation takes effect without a restart. Last use is kept apart, in tokens-used.json, which only the
// server writes, so it can never resurrect a token the CLI just revoked.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";

export const ROLES = ["ingest", "read"] as const;
export type Role = (typeof ROLES)[number];

const TOKENS_FILE = "tokens.json";
const USAGE_FILE = "tokens-used.json";
const PREFIX = "rlv_";

const TokenEntrySchema = v.object({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/)),
  role: v.picklist(ROLES),
  hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  created_at: v.string(),
});
const TokenFileSchema = v.object({ tokens: v.array(TokenEntrySchema) });
export type TokenEntry = v.InferOutput<typeof TokenEntrySchema>;

export function tokensPath(dataDir: string): string {
  return join(dataDir, TOKENS_FILE);
}

function hashToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

export function readTokens(dataDir: string): TokenEntry[] {
  const path = tokensPath(dataDir);
  if (!existsSync(path)) return [];
  const parsed = v.safeParse(TokenFileSchema, JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(`${path} is damaged: ${v.summarize(parsed.issues)}`);
  return parsed.output.tokens;
}

/** Written beside and renamed over, mode 0600, so a reader never sees half a file. */
function writeTokens(dataDir: string, tokens: TokenEntry[]): void {
  const path = tokensPath(dataDir);
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

export function createToken(
  dataDir: string,
  role: Role,
  name: string | undefined,
  now: Date,
): { entry: TokenEntry; token: string } {
  const tokens = readTokens(dataDir);
  const chosen = name ?? nextName(tokens, role);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(chosen))
    throw new Error(`token names are 1-64 letters, digits, ".", "_" or "-"`);
  if (tokens.some((t) => t.name === chosen)) throw new Error(`a token named "${chosen}" exists already`);
  // 256 random bits; the prefix makes a leaked token easy to recognise in logs and secret scanners.
  const token = `${PREFIX}${randomBytes(32).toString("base64url")}`;
  const entry: TokenEntry = {
    name: chosen,
    role,
    hash: hashToken(token).toString("hex"),
    created_at: now.toISOString(),
  };
  writeTokens(dataDir, [...tokens, entry]);
  return { entry, token };
}

function nextName(tokens: TokenEntry[], role: Role): string {
  for (let n = 1; ; n++) if (!tokens.some((t) => t.name === `${role}-${n}`)) return `${role}-${n}`;
}

export function revokeToken(dataDir: string, name: string): TokenEntry {
  const tokens = readTokens(dataDir);
  const found = tokens.find((t) => t.name === name);
  if (!found) throw new Error(`no token named "${name}" (see: relevo-server token list)`);
  writeTokens(
    dataDir,
    tokens.filter((t) => t !== found),
  );
  return found;
}

export function readUsage(dataDir: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(join(dataDir, USAGE_FILE), "utf8")) as Record<string, string>;
  } catch {
    return {};
  }
}

/** The server's view of the token file: reread when it changes, checked at most every `recheckMs`. */
export class TokenRegistry {
  private entries: Array<TokenEntry & { digest: Buffer }> = [];
  private stamp = "";
  private checkedAt = 0;
  private readonly used = new Map<string, string>();
  private usageDirty = false;

  constructor(
    private readonly dataDir: string,
    private readonly recheckMs = 250,
  ) {
    this.reload(true);
  }

  get count(): number {
    this.reload(false);
    return this.entries.length;
  }

  private reload(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    let stamp = "none";
    try {
      const stat = statSync(tokensPath(this.dataDir));
      stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch {}
    if (stamp === this.stamp) return;
    try {
      this.entries = readTokens(this.dataDir).map((t) => ({ ...t, digest: Buffer.from(t.hash, "hex") }));
      this.stamp = stamp;
    } catch {
      // A damaged file keeps the last good list rather than opening the door.
    }
  }

  /** The entry whose hash matches, compared in constant time against every stored hash. */
  verify(token: string, now: Date): TokenEntry | null {
    this.reload(false);
    const digest = hashToken(token);
    let match: TokenEntry | null = null;
    for (const entry of this.entries) if (timingSafeEqual(digest, entry.digest)) match = entry;
    if (match) {
      this.used.set(match.name, now.toISOString());
      this.usageDirty = true;
    }
    return match;
  }

  /** Writes last-use times (called now and then and at shutdown). */
  flushUsage(): void {
    if (!this.usageDirty) return;
    this.usageDirty = false;
    try {
      const merged = { ...readUsage(this.dataDir), ...Object.fromEntries(this.used) };
      writeFileSync(join(this.dataDir, USAGE_FILE), JSON.stringify(merged), { mode: 0o600 });
    } catch {}
  }
}
