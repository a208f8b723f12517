// The data directory's lock: held by the kernel for a live server only, so no pid written in the file, no
// zombie and no other boot can block a start, and of many servers starting at once exactly one wins.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acquireLock, LOCK_FILE } from "../../src/server/store/lock.ts";
import { StoreLockedError } from "../../src/server/store/types.ts";
import { BUN, REPO, tempDir } from "../helpers/server.ts";

const CHILD = join(REPO, "test", "server", "_lock-child.ts");
const linux = process.platform === "linux";

/** Reads a child's stdout until its first line. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const next = await reader.read();
    if (next.done) break;
    text += new TextDecoder().decode(next.value);
  }
  reader.releaseLock();
  return text.split("\n")[0] ?? "";
}

const sleepers: Array<{ kill(signal?: number | NodeJS.Signals): void; exited: Promise<number> }> = [];
afterAll(async () => {
  for (const s of sleepers) s.kill("SIGKILL");
  await Promise.all(sleepers.map((s) => s.exited));
});

describe("acquireLock", () => {
  test("a second holder is refused while the first holds it, and may take it once released", () => {
    const dir = tempDir();
    const release = acquireLock(dir);
    expect(() => acquireLock(dir)).toThrow(StoreLockedError);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    acquireLock(dir)();
  });

  test("another live process holding it is refused, with its pid in the message", async () => {
    const dir = tempDir();
    const child = Bun.spawn([BUN, CHILD, dir], { stdout: "pipe", stderr: "inherit" });
    expect(await firstLine(child.stdout)).toBe(`won ${child.pid}`);
    expect(() => acquireLock(dir)).toThrow(`in use by another relevo-server (pid ${child.pid})`);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    acquireLock(dir)();
  });

  test("an unrelated live pid, pid 1, pid -1 or another boot written in the file do not block", async () => {
    const sleeper = Bun.spawn(["sleep", "60"]);
    sleepers.push(sleeper);
    const bodies = [
      { pid: sleeper.pid },
      { pid: 1 },
      { pid: -1 },
      { pid: process.pid },
      { pid: sleeper.pid, boot: "0b1e5bd3-0000-4000-8000-000000000000", start: "1" },
      "not json",
    ];
    for (const body of bodies) {
      const dir = tempDir();
      writeFileSync(join(dir, LOCK_FILE), typeof body === "string" ? body : JSON.stringify(body));
      const release = acquireLock(dir);
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
      release();
    }
  });

  test.skipIf(!linux)("a holder killed and not yet reaped (a zombie) does not block", async () => {
    const dir = tempDir();
    // dash reaps a background job only at `wait`: killed before that, the child stays a zombie.
    const parent = Bun.spawn(["/bin/sh", "-c", `"$0" "$1" "$2" & read line; wait`, BUN, CHILD, dir], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    const line = await firstLine(parent.stdout);
    const pid = Number(/^won (\d+)$/.exec(line)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(() => acquireLock(dir)).toThrow(StoreLockedError);
    process.kill(pid, "SIGKILL");
    let state = "";
    for (let i = 0; i < 100 && state !== "Z"; i++) {
      await Bun.sleep(20);
      state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1] ?? "";
    }
    expect(state).toBe("Z");
    acquireLock(dir)();
    parent.stdin.write("done\n");
    await parent.stdin.end();
    expect(await parent.exited).toBe(0);
  });

  test("of 50 starts racing for one directory exactly one wins", async () => {
    const dir = tempDir();
    const at = Date.now() + 4_000;
    const children = Array.from({ length: 50 }, () =>
      Bun.spawn([BUN, CHILD, dir, String(at)], { stdout: "pipe", stderr: "inherit" }),
    );
    const lines = await Promise.all(children.map((child) => firstLine(child.stdout)));
    const winners = lines.filter((line) => line.startsWith("won "));
    expect(winners).toHaveLength(1);
    expect(lines.filter((line) => line === "locked")).toHaveLength(49);
    const winner = children[lines.findIndex((line) => line.startsWith("won "))];
    const losers = children.filter((child) => child !== winner);
    // The losers end by themselves, while the winner still holds the lock; then it lets go on SIGTERM.
    expect(await Promise.all(losers.map((child) => child.exited))).toEqual(losers.map(() => 0));
    winner?.kill("SIGTERM");
    expect(await winner?.exited).toBe(0);
    console.log(`50 racing starts: ${winners.length} won, ${lines.length - winners.length} refused`);
  }, 60_000);
});
