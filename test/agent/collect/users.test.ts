// Logged-in users on Linux: utmp parsed from bytes built here, and systemd-logind's session files.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Context } from "../../../src/agent/collect/_context.ts";
import { parseLogindSession, parseUtmp, UTMP, usersLinux } from "../../../src/agent/collect/users.ts";

interface UtmpRecord {
  type: number;
  pid?: number;
  line?: string;
  user?: string;
  host?: string;
  seconds?: number;
  address?: readonly number[];
}

/** struct utmp records as glibc writes them on x86_64 and arm64. */
function utmp(records: UtmpRecord[]): Uint8Array {
  const bytes = new Uint8Array(records.length * UTMP.size);
  const view = new DataView(bytes.buffer);
  const encoder = new TextEncoder();
  records.forEach((record, index) => {
    const at = index * UTMP.size;
    view.setInt16(at + UTMP.type, record.type, true);
    view.setInt32(at + UTMP.pid, record.pid ?? 1000 + index, true);
    bytes.set(encoder.encode(record.line ?? ""), at + UTMP.line);
    bytes.set(encoder.encode(record.user ?? ""), at + UTMP.user);
    bytes.set(encoder.encode(record.host ?? ""), at + UTMP.host);
    view.setInt32(at + UTMP.seconds, record.seconds ?? 0, true);
    bytes.set(record.address ?? [], at + UTMP.address);
  });
  return bytes;
}

const LOGIN = 1_795_400_000; // 2026-11-23T02:13:20Z

describe("parseUtmp", () => {
  test("lists user sessions and skips boot, run-level and dead records", () => {
    const bytes = utmp([
      { type: 2, line: "~", user: "reboot", seconds: LOGIN - 100 }, // BOOT_TIME
      { type: 1, line: "~", user: "runlevel" }, // RUN_LVL
      { type: 7, line: "pts/0", user: "alice", host: "203.0.113.9", seconds: LOGIN },
      { type: 8, line: "pts/1", user: "", seconds: LOGIN }, // DEAD_PROCESS
      { type: 7, line: "tty1", user: "root", host: "", seconds: LOGIN + 60 },
    ]);
    expect(parseUtmp(bytes)).toEqual([
      { name: "alice", terminal: "pts/0", host: "203.0.113.9", login_at: "2026-11-23T02:13:20.000Z" },
      { name: "root", terminal: "tty1", host: "", login_at: "2026-11-23T02:14:20.000Z" },
    ]);
  });

  for (const [what, record, host] of [
    ["a local X display as local", { host: ":0" }, ""],
    ["the IPv4 address when the host name is empty", { address: [192, 0, 2, 44] }, "192.0.2.44"],
    [
      "the IPv6 address when the host name is empty",
      { address: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5] },
      "2001:db8::5",
    ],
    ["a host name that fills all 256 bytes", { host: "h".repeat(256) }, "h".repeat(256)],
  ] as const) {
    test(`reports ${what}`, () => {
      const [session] = parseUtmp(utmp([{ type: 7, line: "pts/2", user: "bob", seconds: LOGIN, ...record }]));
      expect(session?.host).toBe(host);
    });
  }

  test("ignores a torn record at the end of the file", () => {
    const bytes = utmp([{ type: 7, line: "pts/0", user: "alice", seconds: LOGIN }]);
    const torn = new Uint8Array(bytes.length + 100);
    torn.set(bytes);
    expect(parseUtmp(torn)).toHaveLength(1);
  });
});

describe("parseLogindSession", () => {
  test("reads a remote SSH session", () => {
    const text =
      "# This is private data. Do not parse.\nUID=1000\nUSER=alice\nACTIVE=1\nSTATE=active\nREMOTE=1\nTYPE=tty\nCLASS=user\nTTY=pts/0\nREMOTE_HOST=203.0.113.9\nSERVICE=sshd\nREALTIME=1795400000123456\n";
    expect(parseLogindSession(text)).toEqual({
      name: "alice",
      terminal: "pts/0",
      host: "203.0.113.9",
      login_at: "2026-11-23T02:13:20.123Z",
    });
  });

  for (const [what, extra] of [
    ["a background session (cron)", "CLASS=background\n"],
    ["the login greeter", "CLASS=greeter\n"],
    ["a session that is closing", "CLASS=user\nSTATE=closing\n"],
  ] as const) {
    test(`leaves out ${what}`, () => {
      expect(parseLogindSession(`USER=bob\n${extra}`)).toBeUndefined();
    });
  }
});

describe("usersLinux", () => {
  const root = mkdtempSync(join(tmpdir(), "relevo-users-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const notes: string[] = [];
  const ctx = (under: string) =>
    ({ root: join(root, under), partial: (note: string) => void notes.push(note) }) as Context;

  test("reads /run/utmp under the given root", async () => {
    mkdirSync(join(root, "a", "run"), { recursive: true });
    writeFileSync(
      join(root, "a", "run", "utmp"),
      utmp([{ type: 7, line: "pts/0", user: "alice", seconds: LOGIN }]),
    );
    expect((await usersLinux(ctx("a"))).map((user) => user.name)).toEqual(["alice"]);
  });

  test("drops a stale record whose login process has exited, as who does", async () => {
    const exited = Bun.spawn(["true"]);
    await exited.exited;
    mkdirSync(join(root, "d", "run"), { recursive: true });
    symlinkSync("/proc", join(root, "d", "proc"));
    writeFileSync(
      join(root, "d", "run", "utmp"),
      utmp([
        { type: 7, pid: exited.pid, line: "pts/3", user: "gone", seconds: LOGIN },
        { type: 7, pid: process.pid, line: "pts/4", user: "here", seconds: LOGIN },
      ]),
    );
    expect((await usersLinux(ctx("d"))).map((user) => user.name)).toEqual(["here"]);
  });

  test("falls back to logind's session files where there is no utmp", async () => {
    mkdirSync(join(root, "b", "run", "systemd", "sessions"), { recursive: true });
    writeFileSync(join(root, "b", "run", "systemd", "sessions", "4"), "USER=carol\nCLASS=user\nTTY=tty1\n");
    writeFileSync(join(root, "b", "run", "systemd", "sessions", "4.ref"), "");
    expect(await usersLinux(ctx("b"))).toEqual([
      { name: "carol", terminal: "tty1", host: "", login_at: null },
    ]);
  });

  test("finds nobody where neither exists (a container), and says sessions could not be read", async () => {
    mkdirSync(join(root, "c"), { recursive: true });
    notes.length = 0;
    expect(await usersLinux(ctx("c"))).toEqual([]);
    expect(notes).toEqual([
      "sessions could not be read: no utmp (/run/utmp, /var/run/utmp) and no systemd-logind sessions",
    ]);
  });
});
