// --database for the management commands (token, agent, export, import): the same PostgreSQL a server
// runs on, or RELEVO_DATABASE_URL. The schema is brought up to date first, as a server would.
import type { SQL } from "bun";
import type { ArgsDef } from "citty";

export const databaseArg = {
  database: {
    type: "string",
    description:
      "postgres://user@host:5432/db of servers on PostgreSQL (or RELEVO_DATABASE_URL) instead of --data",
  },
} as const satisfies ArgsDef;

/** The database URL the command was given, or undefined for the data directory. */
export function databaseUrl(args: { database?: string }): string | undefined {
  return args.database ?? (process.env.RELEVO_DATABASE_URL || undefined);
}

export async function withDatabase<T>(url: string, work: (sql: SQL) => Promise<T>): Promise<T> {
  const { connectPg } = await import("../pg/open.ts");
  const sql = await connectPg({ url, max: 2 }, new Date());
  try {
    return await work(sql);
  } finally {
    await sql.close();
  }
}
