// Local accounts and groups (Linux): /etc/passwd and /etc/group, locked from /etc/shadow when the agent may
// read it (root; else `locked` is null and errors says why), last login from /var/log/lastlog (one record
// per uid at uid × 292 bytes, read only for the accounts listed). wtmp is not scanned: it grows without
// bound, and distributions that moved to lastlog2 (an SQLite file) leave `last_login_at` null.
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import type { Account, Accounts, Group } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { clip, count } from "./_limits.ts";

type Read = { text: string } | { code: string };

function read(root: string, ...parts: string[]): Read {
  try {
    return { text: readFileSync(join(root, ...parts), "utf8") };
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code ?? String(error) };
  }
}

const fields = (text: string) =>
  text
    .split("\n")
    .filter((line) => line && !line.startsWith("#") && !line.startsWith("+") && !line.startsWith("-"))
    .map((line) => line.split(":"));

/** /etc/shadow: name → whether password login is locked (`!…` or `*`, as `passwd -S` says L). */
export function parseShadow(text: string): Map<string, boolean> {
  const locked = new Map<string, boolean>();
  for (const [name, hash = ""] of fields(text)) {
    if (name) locked.set(name, hash.startsWith("!") || hash.startsWith("*"));
  }
  return locked;
}

type PasswdEntry = Pick<Account, "name" | "uid" | "gid" | "home" | "shell">;

export function parsePasswd(text: string): PasswdEntry[] {
  const users: PasswdEntry[] = [];
  for (const [name, , uid, gid, , home = "", shell = ""] of fields(text)) {
    if (!name || !/^\d+$/.test(uid ?? "") || !/^\d+$/.test(gid ?? "")) continue;
    users.push({
      name: clip(name),
      uid: count(Number(uid)),
      gid: count(Number(gid)),
      home: clip(home, LIMITS.text),
      shell: clip(shell, LIMITS.text),
    });
  }
  return users;
}

export function parseGroup(text: string): Group[] {
  const groups: Group[] = [];
  for (const [name, , gid, members = ""] of fields(text)) {
    if (!name || !/^\d+$/.test(gid ?? "")) continue;
    groups.push({
      name: clip(name),
      gid: count(Number(gid)),
      members: members
        .split(",")
        .filter(Boolean)
        .slice(0, LIMITS.members)
        .map((member) => clip(member.trim())),
    });
  }
  return groups;
}

/** struct lastlog on every 64-bit Linux: int32 ll_time, char ll_line[32], char ll_host[256]. */
export const LASTLOG_RECORD = 292;

/** The last login time of each uid from a lastlog file, or null (never, or no record). */
function readLastlog(path: string, uids: number[]): Map<number, string | null> | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  const times = new Map<number, string | null>();
  const buffer = Buffer.alloc(4);
  try {
    for (const uid of uids) {
      const got = readSync(fd, buffer, 0, 4, uid * LASTLOG_RECORD);
      const seconds = got === 4 ? buffer.readInt32LE(0) : 0;
      times.set(uid, seconds > 0 ? new Date(seconds * 1000).toISOString() : null);
    }
  } finally {
    closeSync(fd);
  }
  return times;
}

export async function accountsLinux(ctx: Context): Promise<Accounts> {
  const passwd = read(ctx.root, "etc", "passwd");
  if ("code" in passwd) throw new Error(`cannot read /etc/passwd (${passwd.code})`);
  const users = parsePasswd(passwd.text).slice(0, LIMITS.accounts);
  const group = read(ctx.root, "etc", "group");
  if ("code" in group) ctx.partial(`cannot read /etc/group (${group.code}): no groups`);
  const shadow = read(ctx.root, "etc", "shadow");
  if ("code" in shadow)
    ctx.partial(`cannot read /etc/shadow (${shadow.code}): whether accounts are locked is unknown`);
  const locked = "text" in shadow ? parseShadow(shadow.text) : undefined;
  const logins = readLastlog(
    join(ctx.root, "var", "log", "lastlog"),
    users.map((user) => user.uid),
  );
  return {
    users: users.map((user) => ({
      ...user,
      locked: locked?.get(user.name) ?? null,
      last_login_at: logins?.get(user.uid) ?? null,
    })),
    groups: "text" in group ? parseGroup(group.text).slice(0, LIMITS.groups) : [],
  };
}
