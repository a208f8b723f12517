// `relevo-server token create|list|revoke`: manages the API tokens in the data directory. Only hashes are
// stored; the new token is printed once, on the last line, so scripts can take it with `tail -n 1`.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { type ArgsDef, defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { errorCode, errorMessage } from "../../shared/errors.ts";
import {
  createToken,
  MIN_TOKEN_LENGTH,
  ROLES,
  type Role,
  readTokens,
  readUsage,
  revokeToken,
  type TokenEntry,
} from "../auth/tokens.ts";
import { createPgToken, listPgTokens, revokePgToken } from "../pg/tokens.ts";
import { databaseArg, databaseUrl, withDatabase } from "./_database.ts";

const dataArg = {
  data: { type: "string", default: "./data", description: "The server's data directory" },
  ...databaseArg,
} as const satisfies ArgsDef;

/** The data directory named by --data, which must exist: the server creates it, the token commands do not. */
export function dataDir(value: string): string {
  const dir = resolve(value);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (error) {
    if (errorCode(error) !== "ENOENT" && errorCode(error) !== "ENOTDIR") throw error;
  }
  if (!isDir) {
    throw new UsageError(
      `--data ${value}: no such directory. Name the server's data directory, or start the server once with --data ${value} to create it`,
    );
  }
  return dir;
}

const create = defineCommand({
  meta: {
    name: "create",
    description:
      "Create a token (ingest: agents upload reports and logs; read: may query; logs: writes one service's logs; enroll: may register agents)",
  },
  args: {
    ...dataArg,
    role: { type: "enum", options: [...ROLES], required: true, description: "What the token may do" },
    name: { type: "string", description: "A name to list and revoke it by (default: <role>-<n>)" },
    service: { type: "string", description: "With --role logs: the one service the token may write" },
    "value-stdin": {
      type: "boolean",
      description: `Store the hash of a token read from stdin (at least ${MIN_TOKEN_LENGTH} characters) instead of making one`,
    },
  },
  async run({ args }) {
    const role = args.role as Role;
    let value: string | undefined;
    if (args["value-stdin"]) {
      // One line; the line break a shell's echo or a file adds is not part of the token.
      value = (await Bun.stdin.text()).replace(/\r?\n$/, "");
      if (value.length < MIN_TOKEN_LENGTH)
        throw new UsageError(
          `--value-stdin: the token read from stdin has ${value.length} characters; it needs at least ${MIN_TOKEN_LENGTH}`,
        );
    }
    let made: ReturnType<typeof createToken>;
    const more = { service: args.service, value };
    const url = databaseUrl(args);
    try {
      made = url
        ? await withDatabase(url, (sql) => createPgToken(sql, role, args.name, new Date(), more))
        : createToken(dataDir(args.data), role, args.name, new Date(), more);
    } catch (error) {
      // The database could not be reached: said as it is, not as a mistake in the command line.
      if ((error as Error).name === "PgOpenError") throw error;
      throw new UsageError(errorMessage(error));
    }
    const { entry, token } = made;
    const bound = entry.service !== undefined ? ` for service "${entry.service}"` : "";
    if (value !== undefined) {
      // The caller has it already: print nothing a log could catch.
      console.error(
        `created token "${entry.name}" with the ${entry.role} role${bound} from the token on stdin`,
      );
      return;
    }
    console.error(
      `created token "${entry.name}" with the ${entry.role} role${bound}; it is shown only this once:`,
    );
    console.log(token);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "List tokens: names, roles, created, last used (never the tokens)" },
  args: dataArg,
  async run({ args }) {
    const url = databaseUrl(args);
    let tokens: TokenEntry[];
    let used: Record<string, string>;
    if (url) {
      const rows = await withDatabase(url, (sql) => listPgTokens(sql));
      tokens = rows;
      used = Object.fromEntries(
        rows.flatMap((row) => (row.last_used_at ? [[row.name, row.last_used_at]] : [])),
      );
    } else {
      const dir = dataDir(args.data);
      tokens = readTokens(dir);
      used = readUsage(dir);
    }
    if (!tokens.length) {
      console.log("no tokens (relevo-server token create --role ingest|read|logs)");
      return;
    }
    console.log(
      ["NAME".padEnd(24), "ROLE".padEnd(8), "SERVICE".padEnd(16), "CREATED".padEnd(26), "LAST USED"].join(
        " ",
      ),
    );
    for (const t of tokens) {
      console.log(
        [
          t.name.padEnd(24),
          t.role.padEnd(8),
          (t.service ?? "-").padEnd(16),
          t.created_at.padEnd(26),
          used[t.name] ?? "never",
        ].join(" "),
      );
    }
  },
});

const revoke = defineCommand({
  meta: {
    name: "revoke",
    description: "Revoke a token by name; a running server stops accepting it at once",
  },
  args: { ...dataArg, name: { type: "positional", required: true, description: "The token's name" } },
  async run({ args }) {
    const url = databaseUrl(args);
    const gone = url
      ? await withDatabase(url, (sql) => revokePgToken(sql, args.name))
      : revokeToken(dataDir(args.data), args.name);
    console.log(`revoked "${gone.name}" (${gone.role})`);
  },
});

export default defineCommand({
  meta: { name: "token", description: "Manage API tokens" },
  subCommands: { create, list, revoke },
});
