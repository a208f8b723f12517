// The connection to PostgreSQL through Bun's built-in client (Bun.sql): the URL from --database or
// RELEVO_DATABASE_URL, the password from the URL, a PGPASSFILE (or ~/.pgpass) or PGPASSWORD, TLS by
// --database-tls / --database-ca or the URL's sslmode, and a statement timeout on every connection. The
// password never reaches a message: every URL shown goes through redactUrl.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { UsageError } from "../../shared/errors.ts";

export const TLS_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export interface DatabaseSettings {
  url: string;
  tls?: TlsMode;
  /** A PEM file of the CA that signed the server's certificate (implies verify-full). */
  caFile?: string;
  /** Every statement is cancelled after this long (default 10 s). */
  statementTimeoutMs?: number;
  /** Connections in the pool (default 10). */
  max?: number;
  env?: Record<string, string | undefined>;
}

/** The URL with any password replaced by "***", for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(a database URL that does not parse)";
  }
}

/** Whether the text is a PostgreSQL URL (postgres:// or postgresql://). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The password of a pgpass file line matching host, port, database and user, or undefined. */
export function pgpassLookup(
  text: string,
  want: { host: string; port: string; database: string; user: string },
): string | undefined {
  // Fields are hostname:port:database:username:password, "*" matches anything, "\:" and "\\" are escapes.
  const matches = (field: string | undefined, value: string) => field === "*" || field === value;
  for (const raw of text.split(/\r?\n/)) {
    if (!raw || raw.startsWith("#")) continue;
    const fields: string[] = [];
    let current = "";
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i] as string;
      if (ch === "\\" && i + 1 < raw.length) current += raw[++i];
      else if (ch === ":" && fields.length < 4) {
        fields.push(current);
        current = "";
      } else current += ch;
    }
    fields.push(current);
    if (fields.length !== 5) continue;
    const [host, port, database, user, password] = fields;
    if (
      matches(host, want.host) &&
      matches(port, want.port) &&
      matches(database, want.database) &&
      matches(user, want.user)
    )
      return password;
  }
  return undefined;
}

function passwordFor(url: URL, env: Record<string, string | undefined>): string | undefined {
  if (url.password) return decodeURIComponent(url.password);
  if (env.PGPASSWORD) return env.PGPASSWORD;
  const file = env.PGPASSFILE ?? (env.HOME ? join(env.HOME, ".pgpass") : join(homedir(), ".pgpass"));
  if (!existsSync(file)) return undefined;
  return pgpassLookup(readFileSync(file, "utf8"), {
    host: url.hostname || "localhost",
    port: url.port || "5432",
    database: decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username),
    user: decodeURIComponent(url.username),
  });
}

/** Checks the settings and builds the client; nothing connects until the first query. */
export function createSql(settings: DatabaseSettings): SQL {
  if (!isPostgresUrl(settings.url)) {
    throw new UsageError(
      `--database must be a postgres://user@host:5432/db URL (got ${redactUrl(settings.url)})`,
    );
  }
  let url: URL;
  try {
    url = new URL(settings.url);
  } catch {
    throw new UsageError(`--database ${redactUrl(settings.url)} is not a valid URL`);
  }
  if (!url.hostname) throw new UsageError(`--database ${redactUrl(settings.url)} names no host`);
  const env = settings.env ?? process.env;
  const sslmode = url.searchParams.get("sslmode") as TlsMode | null;
  if (sslmode && !TLS_MODES.includes(sslmode)) {
    throw new UsageError(`sslmode=${sslmode} in --database is not one of ${TLS_MODES.join(", ")}`);
  }
  const mode: TlsMode | undefined = settings.caFile ? "verify-full" : (settings.tls ?? sslmode ?? undefined);
  if (settings.caFile && !existsSync(settings.caFile)) {
    throw new UsageError(`--database-ca ${settings.caFile}: no such file`);
  }
  const tls = settings.caFile
    ? { ca: readFileSync(settings.caFile, "utf8") }
    : mode === "disable"
      ? false
      : mode;
  return new SQL({
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(url.port || 5432),
    username: decodeURIComponent(url.username) || env.PGUSER || "postgres",
    password: passwordFor(url, env) ?? "",
    database: decodeURIComponent(url.pathname.slice(1)) || env.PGDATABASE || decodeURIComponent(url.username),
    tls,
    max: settings.max ?? 10,
    connectionTimeout: 5,
    idleTimeout: 60,
    connection: {
      statement_timeout: settings.statementTimeoutMs ?? 10_000,
      application_name: "relevo-server",
    },
  });
}
