// API tokens with roles, kept in <data>/tokens.json (mode 0600) as SHA-256 hashes only: the token itself is
// shown once, when it is created, and only after the file holding its hash is on disk. The CLI changes this
// file under tokens.lock, so parallel `token create`s never lose one another's tokens; the server rereads it
// when it changes, so a revocation takes effect without a restart. Last use is kept apart, in
// tokens-used.json, which only the server writes, so it can never resurrect a token the CLI just revoked.
//
// Once a token has existed in a data directory, the marker file `auth-required` stays: revoking the last
// token, or deleting tokens.json, then shuts the door instead of opening it.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { errorMessage } from "../../shared/errors.ts";
import { waitLock } from "../../shared/file-lock.ts";
import { ServiceSchema } from "../../shared/logs.ts";

// `metrics`: a scraper that may read /metrics and nothing else; `admin`: releases and agent commands.
export const ROLES = ["ingest", "read", "logs", "enroll", "admin", "metrics"] as const;
export type Role = (typeof ROLES)[number];
/** A token brought from elsewhere (--value-stdin) must be at least this long. */
export const MIN_TOKEN_LENGTH = 16;

const TOKENS_FILE = "tokens.json";
const USAGE_FILE = "tokens-used.json";
const LOCK_FILE = "tokens.lock";
export const AUTH_MARKER = "auth-required";
const PREFIX = "rlv_";

const TokenEntrySchema = v.pipe(
  v.object({
    name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,64}$/)),
    role: v.picklist(ROLES),
    hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
    created_at: v.string(),
    /** The one service a `logs` token may write; only `logs` tokens have one, and they must. */
    service: v.optional(ServiceSchema),
  }),
  // A logs token without its service (a hand-edited file) would write every service: the file is damaged.
  v.check(
    (t) => (t.role === "logs") === (t.service !== undefined),
    "a logs token has a service, others none",
  ),
);
const TokenFileSchema = v.object({ tokens: v.array(TokenEntrySchema) });
export type TokenEntry = v.InferOutput<typeof TokenEntrySchema>;

export function tokensPath(dataDir: string): string {
  return join(dataDir, TOKENS_FILE);
}

export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

export function readTokens(dataDir: string): TokenEntry[] {
  const path = tokensPath(dataDir);
  if (!existsSync(path)) return [];
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`${path} is damaged: ${errorMessage(error)}`);
  }
  const parsed = v.safeParse(TokenFileSchema, json);
  if (!parsed.success) throw new Error(`${path} is damaged: ${v.summarize(parsed.issues)}`);
  return parsed.output.tokens;
}

/** Written beside, fsynced, renamed over and the directory fsynced: on disk, whole, before anyone is told. */
function writeDurably(path: string, text: string): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  syncDirectory(join(path, ".."));
}

function syncDirectory(dir: string): void {
  // Windows cannot open a directory; NTFS journals the rename itself.
  if (process.platform === "win32") return;
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads, changes and durably writes the token file while holding tokens.lock. */
function updateTokens<T>(
  dataDir: string,
  change: (tokens: TokenEntry[]) => { tokens: TokenEntry[]; result: T },
): T {
  const lock = waitLock(join(dataDir, LOCK_FILE), 15_000, `the token file in ${dataDir}`);
  try {
    const { tokens, result } = change(readTokens(dataDir));
    if (tokens.length) markAuthRequired(dataDir);
    writeDurably(tokensPath(dataDir), `${JSON.stringify({ tokens }, null, 2)}\n`);
    return result;
  } finally {
    lock.release();
  }
}

/** Records, for good, that this data directory has had tokens. */
export function markAuthRequired(dataDir: string): void {
  const path = join(dataDir, AUTH_MARKER);
  if (existsSync(path)) return;
  writeDurably(
    path,
    "Tokens have existed in this data directory, so the server always asks for one (even with none left).\n" +
      "Only --no-auth serves without tokens. Deleting this file reopens a loopback server to anyone on it.\n",
  );
}

export function createToken(
  dataDir: string,
  role: Role,
  name: string | undefined,
  now: Date,
  /** `service`: required for, and only for, `logs`. `value`: a token brought from elsewhere. */
  more: { service?: string; value?: string } = {},
): { entry: TokenEntry; token: string } {
  const token = newTokenValue(role, name, more);
  const entry = updateTokens(dataDir, (tokens) => {
    const entry = tokenEntry(tokens, role, name, token, now, more.service);
    return { tokens: [...tokens, entry], result: entry };
  });
  return { entry, token };
}

/** Checks a token request (whatever keeps the tokens) and returns the token itself. */
export function newTokenValue(
  role: Role,
  name: string | undefined,
  { service, value }: { service?: string; value?: string },
): string {
  if (name !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw new Error(`token names are 1-64 letters, digits, ".", "_" or "-"`);
  if (role === "logs" && service === undefined)
    throw new Error("a logs token is bound to one service: add --service NAME");
  if (role !== "logs" && service !== undefined)
    throw new Error(`--service goes only with --role logs (an ${role} token is not bound to a service)`);
  if (service !== undefined && !v.is(ServiceSchema, service))
    throw new Error("a service name is 1-128 characters without control characters");
  if (value !== undefined && (value.length < MIN_TOKEN_LENGTH || value.length > 512 || /\s/.test(value)))
    throw new Error(
      `a token brought with --value-stdin must be ${MIN_TOKEN_LENGTH}-512 characters without spaces (got ${value.length})`,
    );
  // 256 random bits; the prefix makes a leaked token easy to recognise in logs and secret scanners.
  return value ?? `${PREFIX}${randomBytes(32).toString("base64url")}`;
}

/** The new entry among the existing `tokens`: its name chosen or checked, its hash unique. */
export function tokenEntry(
  tokens: readonly TokenEntry[],
  role: Role,
  name: string | undefined,
  token: string,
  now: Date,
  service: string | undefined,
): TokenEntry {
  const chosen = name ?? nextName(tokens, role);
  if (tokens.some((t) => t.name === chosen)) throw new Error(`a token named "${chosen}" exists already`);
  const hash = hashToken(token).toString("hex");
  // Two entries with one hash would make the token mean two things.
  if (tokens.some((t) => t.hash === hash)) throw new Error("this token exists already (under another name)");
  return {
    name: chosen,
    role,
    hash,
    created_at: now.toISOString(),
    ...(service !== undefined ? { service } : {}),
  };
}

function nextName(tokens: readonly TokenEntry[], role: Role): string {
  for (let n = 1; ; n++) if (!tokens.some((t) => t.name === `${role}-${n}`)) return `${role}-${n}`;
}

export function revokeToken(dataDir: string, name: string): TokenEntry {
  return updateTokens(dataDir, (tokens) => {
    const found = tokens.find((t) => t.name === name);
    if (!found) throw new Error(`no token named "${name}" (see: relevo-server token list)`);
    return { tokens: tokens.filter((t) => t !== found), result: found };
  });
}

export function readUsage(dataDir: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(join(dataDir, USAGE_FILE), "utf8")) as Record<string, string>;
  } catch {
    return {};
  }
}

/** What the auth guard asks of the tokens, kept in tokens.json (TokenRegistry) or PostgreSQL (PgTokens). */
export interface TokenCheck {
  readonly count: number;
  /** True once tokens have existed (now or ever): no request goes without one. */
  readonly required: boolean;
  /** The entry whose hash matches, compared in constant time against every stored hash. */
  verify(token: string, now: Date): TokenEntry | null;
  /** Writes last-use times (now and then, and at shutdown). */
  flushUsage(): void | Promise<void>;
}

/** Constant-time lookup of a token among entries with their hash digests. */
export function matchToken<T extends { digest: Buffer }>(entries: readonly T[], token: string): T | null {
  const digest = hashToken(token);
  let match: T | null = null;
  for (const entry of entries) if (timingSafeEqual(digest, entry.digest)) match = entry;
  return match;
}

/** The server's view of the token file: reread when it changes, checked at most every `recheckMs`. */
export class TokenRegistry implements TokenCheck {
  private entries: Array<TokenEntry & { digest: Buffer }> = [];
  private stamp = "";
  private checkedAt = 0;
  private marked = false;
  private readonly used = new Map<string, string>();
  private usageDirty = false;

  constructor(
    private readonly dataDir: string,
    private readonly recheckMs = 250,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.reload(true);
  }

  get count(): number {
    this.reload(false);
    return this.entries.length;
  }

  /** True once tokens have existed here (now or ever, by the marker): no request goes without one. */
  get required(): boolean {
    this.reload(false);
    return this.marked;
  }

  private reload(force: boolean): void {
    const now = this.clock().getTime();
    if (!force && now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    let stamp = "none";
    try {
      const stat = statSync(tokensPath(this.dataDir));
      stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch {}
    if (stamp !== this.stamp) {
      try {
        this.entries = readTokens(this.dataDir).map((t) => ({ ...t, digest: Buffer.from(t.hash, "hex") }));
        this.stamp = stamp;
      } catch {
        // A damaged file keeps the last good list rather than opening the door.
      }
    }
    if (!this.marked) this.marked = existsSync(join(this.dataDir, AUTH_MARKER));
    if (!this.marked && this.entries.length) {
      // A token file from before the marker, or written by hand: remember it from now on.
      this.marked = true;
      try {
        markAuthRequired(this.dataDir);
      } catch {}
    }
  }

  /** The entry whose hash matches, compared in constant time against every stored hash. */
  verify(token: string, now: Date): TokenEntry | null {
    this.reload(false);
    const match = matchToken(this.entries, token);
    if (match) {
      this.used.set(match.name, now.toISOString());
      this.usageDirty = true;
    }
    return match;
  }

  /** Writes last-use times (called now and then and at shutdown), whole or not at all. */
  flushUsage(): void {
    if (!this.usageDirty) return;
    this.usageDirty = false;
    try {
      const merged = { ...readUsage(this.dataDir), ...Object.fromEntries(this.used) };
      const path = join(this.dataDir, USAGE_FILE);
      writeFileSync(`${path}.tmp`, JSON.stringify(merged), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    } catch {}
  }
}
