// Local accounts and groups, from a fake /etc + /var/log tree and against this machine's files.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  accountsLinux,
  LASTLOG_RECORD,
  parseGroup,
  parsePasswd,
  parseShadow,
} from "../../../src/agent/collect/accounts.ts";
import { fakeContext, fakeRoot } from "./_root.ts";

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh
bob:x:1001:1001::/home/bob:/bin/bash
+@netgroup::::::
broken:x:abc:1::/:/bin/sh
`;
const SHADOW = `root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:$y$j9T$abc$def:19500:0:99999:7:::
bob:!$6$salt$hash:19500:0:99999:7:::
`;
const GROUP = `root:x:0:
sudo:x:27:alice,bob
alice:x:1000:
`;

/** A lastlog file with a login for each uid given (seconds since the epoch). */
function lastlog(times: Record<number, number>): Buffer {
  const size = (Math.max(...Object.keys(times).map(Number)) + 1) * LASTLOG_RECORD;
  const file = Buffer.alloc(size);
  for (const [uid, seconds] of Object.entries(times)) {
    file.writeInt32LE(seconds, Number(uid) * LASTLOG_RECORD);
    file.write("pts/0", Number(uid) * LASTLOG_RECORD + 4);
  }
  return file;
}

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});
function root(files: Record<string, string>) {
  const made = fakeRoot(files);
  roots.push(made);
  return made;
}

describe("accountsLinux on a fake /etc", () => {
  test("lists accounts with uid, gid, home, shell, locked and last login, and groups with members", async () => {
    const dir = root({ "etc/passwd": PASSWD, "etc/shadow": SHADOW, "etc/group": GROUP, "var/log/wtmp": "" });
    writeFileSync(join(dir, "var", "log", "lastlog"), lastlog({ 1000: 1_700_000_000 }));
    const accounts = await accountsLinux(fakeContext(dir));
    expect(accounts.users).toEqual([
      { name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/bash", locked: true, last_login_at: null },
      {
        name: "daemon",
        uid: 1,
        gid: 1,
        home: "/usr/sbin",
        shell: "/usr/sbin/nologin",
        locked: true,
        last_login_at: null,
      },
      {
        name: "alice",
        uid: 1000,
        gid: 1000,
        home: "/home/alice",
        shell: "/bin/zsh",
        locked: false,
        last_login_at: "2023-11-14T22:13:20.000Z",
      },
      // uid 1001 lies past the end of the (sparse) lastlog file: never logged in.
      {
        name: "bob",
        uid: 1001,
        gid: 1001,
        home: "/home/bob",
        shell: "/bin/bash",
        locked: true,
        last_login_at: null,
      },
    ]);
    expect(accounts.groups).toEqual([
      { name: "root", gid: 0, members: [] },
      { name: "sudo", gid: 27, members: ["alice", "bob"] },
      { name: "alice", gid: 1000, members: [] },
    ]);
  });

  test("leaves locked unknown and says why when /etc/shadow cannot be read", async () => {
    // A directory in its place: unreadable for root too (a mode-000 file is not, for root).
    const dir = root({ "etc/passwd": PASSWD, "etc/shadow/x": "", "etc/group": GROUP });
    const notes: string[] = [];
    const accounts = await accountsLinux(fakeContext(dir, {}, notes));
    expect(accounts.users.every((user) => user.locked === null)).toBe(true);
    expect(notes).toEqual(["cannot read /etc/shadow (EISDIR): whether accounts are locked is unknown"]);
  });

  test("leaves locked unknown and says why when there is no /etc/shadow", async () => {
    const notes: string[] = [];
    const accounts = await accountsLinux(fakeContext(root({ "etc/passwd": PASSWD }), {}, notes));
    expect(accounts.users.map((user) => user.locked)).toEqual([null, null, null, null]);
    expect(accounts.groups).toEqual([]);
    expect(notes).toEqual([
      "cannot read /etc/group (ENOENT): no groups",
      "cannot read /etc/shadow (ENOENT): whether accounts are locked is unknown",
    ]);
  });

  test("fails the collector when /etc/passwd cannot be read", async () => {
    await expect(accountsLinux(fakeContext(root({})))).rejects.toThrow("cannot read /etc/passwd (ENOENT)");
  });

  test("parsers skip comments, NIS lines and malformed entries", () => {
    expect(parsePasswd(PASSWD).map((user) => user.name)).toEqual(["root", "daemon", "alice", "bob"]);
    expect(parseShadow("x:!:1\ny::1\nz:$6$a:1\n")).toEqual(
      new Map([
        ["x", true],
        ["y", false],
        ["z", false],
      ]),
    );
    expect(parseGroup("ok:x:5:a,,b\nbad:x::\n")).toEqual([{ name: "ok", gid: 5, members: ["a", "b"] }]);
  });
});

const linux = process.platform === "linux";
describe.skipIf(!linux)("accountsLinux on this machine", () => {
  test("lists every /etc/passwd account", async () => {
    const names = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .filter((line) => line && !line.startsWith("#"))
      .map((line) => line.split(":")[0] ?? "");
    const accounts = await accountsLinux(fakeContext("/"));
    expect(accounts.users.map((user) => user.name)).toEqual(names);
  });
});

const passwd = Bun.which("passwd");
describe.skipIf(!linux || process.getuid?.() !== 0 || !passwd)("accountsLinux as root here", () => {
  test("says locked exactly where passwd -S says L", async () => {
    const accounts = await accountsLinux(fakeContext("/"));
    for (const user of accounts.users) {
      const status = Bun.spawnSync([passwd ?? "passwd", "-S", user.name])
        .stdout.toString()
        .split(" ")[1];
      expect(user.locked).toBe(status === "L");
    }
  });
});
