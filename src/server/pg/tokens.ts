// API tokens on PostgreSQL: the `tokens` table (SHA-256 hashes only) and the auth-required marker in
// relevo_settings. Each server keeps the list in memory, so a request's check is a constant-time compare as
// with tokens.json; `token create|revoke --database` sends NOTIFY relevo_tokens, and every server reloads
// (also every few seconds, and after its LISTEN connection came back, in case a notification was missed).
import type { SQL } from "bun";
import { logger } from "../../shared/log.ts";
import {
  matchToken,
  newTokenValue,
  type Role,
  type TokenCheck,
  type TokenEntry,
  tokenEntry,
} from "../auth/tokens.ts";

const CHANNEL = "relevo_tokens";
const tokensLog = logger("tokens");

interface Row {
  name: string;
  role: Role;
  hash: string;
  created_at: string;
  service: string | null;
}

const entryOf = (row: Row): TokenEntry => ({
  name: row.name,
  role: row.role,
  hash: row.hash,
  created_at: row.created_at,
  ...(row.service !== null ? { service: row.service } : {}),
});

export async function listPgTokens(sql: SQL): Promise<Array<TokenEntry & { last_used_at: string | null }>> {
  const rows =
    await sql`SELECT name, role, hash, created_at, service, last_used_at FROM tokens ORDER BY created_at, name`;
  return (rows as Array<Row & { last_used_at: string | null }>).map((row) => ({
    ...entryOf(row),
    last_used_at: row.last_used_at,
  }));
}

export async function createPgToken(
  sql: SQL,
  role: Role,
  name: string | undefined,
  now: Date,
  more: { service?: string; value?: string } = {},
): Promise<{ entry: TokenEntry; token: string }> {
  const token = newTokenValue(role, name, more);
  const entry = await sql.begin(async (tx) => {
    // One writer at a time, so two creates never pick the same default name.
    await tx`LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE`;
    const existing = ((await tx`SELECT name, role, hash, created_at, service FROM tokens`) as Row[]).map(
      entryOf,
    );
    const entry = tokenEntry(existing, role, name, token, now, more.service);
    await tx`INSERT INTO tokens (name, role, hash, created_at, service)
      VALUES (${entry.name}, ${entry.role}, ${entry.hash}, ${entry.created_at}, ${entry.service ?? null})`;
    await tx`INSERT INTO relevo_settings (key, value) VALUES ('auth_required', ${now.toISOString()})
      ON CONFLICT (key) DO NOTHING`;
    await tx.notify(CHANNEL, "created");
    return entry;
  });
  return { entry, token };
}

export async function revokePgToken(sql: SQL, name: string): Promise<TokenEntry> {
  return await sql.begin(async (tx) => {
    const [row] =
      await tx`DELETE FROM tokens WHERE name = ${name} RETURNING name, role, hash, created_at, service`;
    if (!row) throw new Error(`no token named "${name}" (see: relevo-server token list)`);
    await tx.notify(CHANNEL, "revoked");
    return entryOf(row as Row);
  });
}

/** The server's view of the tokens table, in memory, reloaded on NOTIFY and every `recheckMs`. */
export class PgTokens implements TokenCheck {
  #entries: Array<TokenEntry & { digest: Buffer }> = [];
  #required = false;
  #timer: Timer | undefined;
  #unlisten: (() => Promise<void>) | null = null;
  readonly #used = new Map<string, string>();

  private constructor(private readonly sql: SQL) {}

  static async open(sql: SQL, recheckMs = 5_000): Promise<PgTokens> {
    const tokens = new PgTokens(sql);
    await tokens.reload();
    const subscription = await sql.listen(
      CHANNEL,
      () => void tokens.reload().catch(() => {}),
      () => void tokens.reload().catch(() => {}),
    );
    tokens.#unlisten = () => subscription.unlisten();
    tokens.#timer = setInterval(() => void tokens.reload().catch(() => {}), recheckMs);
    tokens.#timer.unref();
    return tokens;
  }

  /** Rereads the table; on failure the last good list stays (a database outage never opens the door). */
  async reload(): Promise<void> {
    const rows = (await this.sql`SELECT name, role, hash, created_at, service FROM tokens`) as Row[];
    const [marker] = await this.sql`SELECT 1 AS x FROM relevo_settings WHERE key = 'auth_required'`;
    this.#entries = rows.map((row) => ({ ...entryOf(row), digest: Buffer.from(row.hash, "hex") }));
    this.#required ||= marker !== undefined || rows.length > 0;
  }

  get count(): number {
    return this.#entries.length;
  }

  get required(): boolean {
    return this.#required;
  }

  verify(token: string, now: Date): TokenEntry | null {
    const match = matchToken(this.#entries, token);
    if (match) this.#used.set(match.name, now.toISOString());
    return match;
  }

  async flushUsage(): Promise<void> {
    if (!this.#used.size) return;
    const used = [...this.#used];
    this.#used.clear();
    try {
      for (const [name, at] of used) {
        await this.sql`UPDATE tokens SET last_used_at = ${at} WHERE name = ${name}
          AND (last_used_at IS NULL OR last_used_at < ${at})`;
      }
    } catch (error) {
      tokensLog.debug(`token last use not recorded: ${String(error)}`);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#unlisten?.().catch(() => {});
    await this.flushUsage();
  }
}
