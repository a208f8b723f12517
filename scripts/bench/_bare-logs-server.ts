// The yardstick of `bun run bench logs`: bun:sqlite with the same schema, pragmas and group commit as the
// real server, behind a bare Bun.serve that parses JSON and inserts it without validation, auth or limits.
// Usage: bun scripts/bench/_bare-logs-server.ts <data dir>; prints "listening on http://127.0.0.1:<port>".
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { MIGRATIONS } from "../../src/server/db/schema.ts";

const dir = process.argv[2] ?? ".";
const db = new Database(join(dir, "bare.db"), { create: true, strict: true });
db.run("PRAGMA journal_mode = WAL");
db.run("PRAGMA synchronous = FULL");
db.run("PRAGMA cache_size = -32768");
for (const step of MIGRATIONS) step.up(db);
// Rows 32 to a statement, as the real store does, so the yardstick is no slower than it needs to be.
const SQL = "INSERT INTO logs (ts, received, service, level, message) VALUES ";
const insertOne = db.prepare(`${SQL}(?, ?, ?, ?, ?)`);
const insertMany = db.prepare(SQL + Array(32).fill("(?, ?, ?, ?, ?)").join(", "));
const LEVELS: Record<string, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

type Entry = { timestamp: string; service: string; severity: string; message: string };
let queue: { entries: Entry[]; done: () => void }[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const group = queue;
  queue = [];
  const received = Date.now() * 1000;
  db.run("BEGIN IMMEDIATE");
  const rows = group.flatMap((item) => item.entries);
  const params: (string | number)[] = [];
  const push = (e: Entry) =>
    params.push(Date.parse(e.timestamp) * 1000, received, e.service, LEVELS[e.severity] ?? 20, e.message);
  let at = 0;
  for (; at + 32 <= rows.length; at += 32) {
    params.length = 0;
    for (const e of rows.slice(at, at + 32)) push(e);
    insertMany.run(...params);
  }
  for (const e of rows.slice(at)) {
    params.length = 0;
    push(e);
    insertOne.run(...params);
  }
  db.run("COMMIT");
  for (const item of group) item.done();
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    const body = (await request.json()) as Entry | Entry[];
    const entries = Array.isArray(body) ? body : [body];
    await new Promise<void>((done) => {
      queue.push({ entries, done });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
    return Response.json({ ok: true, accepted: entries.length }, { status: 201 });
  },
});
console.error(`listening on http://127.0.0.1:${server.port}`);
process.on("SIGTERM", () => {
  server.stop();
  db.close();
  process.exit(0);
});
