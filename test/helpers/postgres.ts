// A real PostgreSQL cluster for a test file or a benchmark: Debian's binaries, initdb into a temporary
// directory, the postmaster as a direct child (so it is reaped) on a free 127.0.0.1 port, password login over
// TCP. initdb refuses to run as root, so as root everything runs as the `postgres` system user (setpriv, no
// extra process in between). stop() is `pg_ctl stop -m immediate`, never a cluster left running.
import { chownSync, existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { SQL } from "bun";
import { freePort, tempDir } from "./server.ts";

const PG_ROOT = "/usr/lib/postgresql";
export const PG_USER = "relevo";
export const PG_PASSWORD = "pg-secret-Hunter2-not-logged";

/** The bin directory of the newest installed PostgreSQL, or null. */
function pgBin(): string | null {
  if (!existsSync(PG_ROOT)) return null;
  const versions = readdirSync(PG_ROOT)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(PG_ROOT, name, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(PG_ROOT, versions[0], "bin") : null;
}

const asRoot = process.getuid?.() === 0;

function systemUser(): { uid: number; gid: number } | null {
  const line = Bun.spawnSync(["getent", "passwd", "postgres"]).stdout.toString().trim();
  const [, , uid, gid] = line.split(":");
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : null;
}

/** Why PostgreSQL tests cannot run here, or null when they can. */
export function postgresMissing(): string | null {
  if (process.platform !== "linux") return "PostgreSQL tests run on Linux only";
  if (!pgBin()) return `no PostgreSQL server under ${PG_ROOT} (apt-get install postgresql)`;
  if (asRoot && !systemUser()) return "running as root without a postgres system user to run initdb as";
  return null;
}

/** argv that runs `command` as the postgres user when we are root. */
function asPostgres(command: string[]): string[] {
  return asRoot
    ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env", ...command]
    : command;
}

export interface PgCluster {
  port: number;
  dir: string;
  /** A connection URL with the password, for the database `db`. */
  url(db?: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** Kills the postmaster at once (pg_ctl stop -m immediate), then starts it again on the same port. */
  restart(downMs?: number): Promise<void>;
  stopNow(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

interface Options {
  /** fsync=on for the benchmark; tests run with it off (a kill loses nothing the OS has). */
  fsync?: boolean;
  settings?: Record<string, string>;
  /** Files written into the cluster's directory before it starts (TLS keys), owned by its user, mode 0600. */
  files?: Record<string, string>;
}

export async function startPostgres(options: Options = {}): Promise<PgCluster> {
  const bin = pgBin();
  if (!bin) throw new Error("PostgreSQL is not installed");
  const dir = tempDir("relevo-pg-");
  const data = join(dir, "data");
  const user = asRoot ? systemUser() : null;
  if (user) chownSync(dir, user.uid, user.gid);
  const pwfile = join(dir, "pw");
  writeFileSync(pwfile, `${PG_PASSWORD}\n`, { mode: 0o600 });
  if (user) chownSync(pwfile, user.uid, user.gid);
  const init = Bun.spawnSync(
    asPostgres([
      join(bin, "initdb"),
      "-D",
      data,
      "-U",
      PG_USER,
      "--pwfile",
      pwfile,
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ]),
    { stdout: "pipe", stderr: "pipe" },
  );
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
  for (const [name, text] of Object.entries(options.files ?? {})) {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    if (user) chownSync(join(dir, name), user.uid, user.gid);
  }
  const port = freePort();
  let proc: Subprocess<"ignore", "ignore", "pipe"> | null = null;
  let logText = "";
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: dir,
    fsync: options.fsync ? "on" : "off",
    max_connections: "200",
    shared_buffers: "64MB",
    ...options.settings,
  };
  const args = Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`]);
  const url = (db = "postgres") => `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${db}`;

  const start = async () => {
    proc = Bun.spawn(asPostgres([join(bin, "postgres"), "-D", data, ...args]), {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const running = proc;
    void (async () => {
      for await (const chunk of running.stderr) logText += new TextDecoder().decode(chunk);
    })();
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const sql = new SQL({ url: url(), max: 1, connectionTimeout: 2 });
        await sql`SELECT 1`;
        await sql.close();
        return;
      } catch (error) {
        if (Date.now() > deadline || running.exitCode !== null) {
          throw new Error(`PostgreSQL did not start: ${String(error)}\n${logText}`);
        }
        await Bun.sleep(100);
      }
    }
  };
  const stopNow = async () => {
    const running = proc;
    if (!running || running.exitCode !== null) return;
    Bun.spawnSync(asPostgres([join(bin, "pg_ctl"), "stop", "-D", data, "-m", "immediate", "-s"]));
    const timer = setTimeout(() => running.kill("SIGKILL"), 10_000);
    await running.exited;
    clearTimeout(timer);
    proc = null;
  };
  await start();
  return {
    port,
    dir,
    url,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]{0,40}$/.test(name)) throw new Error(`bad database name ${name}`);
      const sql = new SQL({ url: url(), max: 1 });
      try {
        // A file copy of the template (with fsync off, just the copy), not PostgreSQL 15's default of
        // writing the template through the WAL: a suite makes dozens of databases.
        await sql
          .unsafe(`CREATE DATABASE ${name} STRATEGY = FILE_COPY`)
          .catch(() => sql.unsafe(`CREATE DATABASE ${name}`));
      } finally {
        await sql.close();
      }
      return url(name);
    },
    async dropDatabase(name) {
      if (!/^[a-z_][a-z0-9_]{0,40}$/.test(name)) throw new Error(`bad database name ${name}`);
      const sql = new SQL({ url: url(), max: 1 });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.close();
      }
    },
    async restart(downMs = 0) {
      await stopNow();
      if (downMs) await Bun.sleep(downMs);
      await start();
    },
    stopNow,
    start,
    async stop() {
      await stopNow();
      // Its databases are gigabytes of copies by the end of a suite: gone now, not in the run's last hook.
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
    log: () => logText,
  };
}

let counter = 0;
/** A database name unique in this process. */
export function databaseName(prefix: string): string {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
}
