// `relevo-server export` and `relevo-server import`: from PostgreSQL to the day-file layout and back, so a
// team can move between the two backends either way.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { UsageError } from "../../shared/cli.ts";
import { parseDay } from "../day.ts";
import { parseIpParam } from "../ip.ts";
import { databaseArg, databaseUrl, withDatabase } from "./_database.ts";

function requireDatabase(args: { database?: string; "from-database"?: string }): string {
  const url = args["from-database"] ?? databaseUrl(args);
  if (!url)
    throw new UsageError("name the PostgreSQL database: --database postgres://... (or RELEVO_DATABASE_URL)");
  return url;
}

export const exportCommand = defineCommand({
  meta: {
    name: "export",
    description:
      "Write one day's day files (<ip>_<date>.json, as /query gives them) from PostgreSQL into a directory",
  },
  args: {
    ...databaseArg,
    "from-database": { type: "string", description: "The same as --database" },
    date: { type: "string", required: true, description: "The day, YYYY-MM-DD" },
    to: {
      type: "string",
      required: true,
      description: "Directory to write the day files into (made if missing)",
    },
    ip: { type: "string", description: "Only this host's file" },
  },
  async run({ args }) {
    const date = parseDay(args.date);
    if (!date) throw new UsageError(`--date ${args.date}: not a calendar day as YYYY-MM-DD`);
    const ip = args.ip === undefined ? undefined : parseIpParam(args.ip);
    if (ip === null) throw new UsageError(`--ip ${args.ip}: not an IP address`);
    const { exportDay } = await import("../pg/transfer.ts");
    const to = resolve(args.to);
    const done = await withDatabase(requireDatabase(args), (sql) => exportDay(sql, date, to, ip));
    console.log(`exported ${done.files} day files (${done.reports} reports) of ${date} to ${to}`);
  },
});

export const importCommand = defineCommand({
  meta: {
    name: "import",
    description:
      "Load a data directory's day files into PostgreSQL; reports already there are skipped, so it can run again",
  },
  args: {
    ...databaseArg,
    data: {
      type: "string",
      required: true,
      description: "The data directory to read (the server on it stopped)",
    },
  },
  async run({ args }) {
    const dir = resolve(args.data);
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {}
    if (!isDir) throw new UsageError(`--data ${args.data}: no such directory`);
    const { importDir } = await import("../pg/transfer.ts");
    const done = await withDatabase(requireDatabase(args), (sql) =>
      importDir(sql, dir, (line) => console.error(line)),
    );
    console.log(
      `imported ${done.files} day files: ${done.stored} reports stored, ${done.read - done.stored} there already` +
        (done.skipped ? `, ${done.skipped} damaged lines left out` : ""),
    );
  },
});
