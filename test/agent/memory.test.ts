// Giving back the executable's code pages between reports (Linux).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { executableMappings, releaseExecutablePages } from "../../src/agent/_memory.ts";

const MAPS = `55d0c0000000-55d0c1000000 r--p 00000000 fe:01 123 /opt/relevo agent
55d0c1000000-55d0c3000000 r-xp 01000000 fe:01 123 /opt/relevo agent
55d0c3000000-55d0c3100000 r--p 03000000 fe:01 123 /opt/relevo agent
55d0c3100000-55d0c3200000 rw-p 03100000 fe:01 123 /opt/relevo agent
7f0000000000-7f0000100000 rwxp 00000000 00:00 0
7f0000100000-7f0000200000 r-xp 00000000 fe:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
`;

describe("executableMappings", () => {
  test("keeps only the code of the named file: no data, no RELRO, no JIT, no other library", () => {
    expect(executableMappings(MAPS, "/opt/relevo agent")).toEqual([
      { start: 0x55d0c1000000, end: 0x55d0c3000000 },
    ]);
  });

  test("finds this process's own executable in /proc/self/maps", () => {
    const maps = readFileSync("/proc/self/maps", "utf8");
    expect(executableMappings(maps, process.execPath).length).toBeGreaterThan(0);
  });
});

describe.skipIf(process.platform !== "linux")("releaseExecutablePages", () => {
  test("drops touched code pages from the RSS, and the process runs on", async () => {
    const fileKb = () => Number(/RssFile:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    const before = fileKb();
    const advised = await releaseExecutablePages();
    const after = fileKb();
    expect(advised).toBeGreaterThan(1024 * 1024);
    expect(after).toBeLessThan(before);
    // Code faults back in from the page cache when it runs again.
    expect(JSON.parse(JSON.stringify({ still: "running" }))).toEqual({ still: "running" });
  });

  test("does nothing for a file this process has not mapped", async () => {
    expect(await releaseExecutablePages("/nonexistent/relevo-agent")).toBe(0);
  });
});
