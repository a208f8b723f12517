// What each executable contains: the agent no Hono, the server no systeminformation. Proved twice: by the
// bundle's own list of inputs (the build's metafile) and by looking for a string only that library has in
// the executable's bytes. Also: a second build reuses the first, and SHA256SUMS reads back with sha256sum.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Built, sha256sums } from "../../scripts/build.ts";
import { BUILD_TIMEOUT_MS, executables, run, tempDir } from "./_run.ts";

/** Messages found in one library's code only (kept by minification: they are strings). */
const HONO_ONLY = "Context is not finalized";
const SYSTEMINFORMATION_ONLY = "powerShellStart";

const supported = process.platform === "linux" && process.arch === "x64";

describe.skipIf(!supported)("the executables' contents", () => {
  let agent: Built;
  let server: Built;

  beforeAll(async () => {
    const built = await executables(["linux-x64"]);
    agent = built["agent-linux-x64"] as Built;
    server = built["server-linux-x64"] as Built;
  }, BUILD_TIMEOUT_MS);

  const fromPackage = (inputs: string[], name: string) =>
    inputs.filter((input) => input.includes(`node_modules/${name}/`));

  // The agent keeps its own PowerShell session on Windows and reads /proc on Linux: systeminformation
  // is no longer part of it.
  test("the agent bundles neither Hono nor systeminformation", () => {
    expect(fromPackage(agent.inputs, "hono")).toEqual([]);
    expect(fromPackage(agent.inputs, "systeminformation")).toEqual([]);
    const bytes = readFileSync(agent.path);
    expect(bytes.includes(HONO_ONLY)).toBe(false);
    expect(bytes.includes(SYSTEMINFORMATION_ONLY)).toBe(false);
  });

  test("the server bundles Hono and no systeminformation", () => {
    expect(fromPackage(server.inputs, "systeminformation")).toEqual([]);
    expect(fromPackage(server.inputs, "hono").length).toBeGreaterThan(0);
    const bytes = readFileSync(server.path);
    expect(bytes.includes(SYSTEMINFORMATION_ONLY)).toBe(false);
    expect(bytes.includes(HONO_ONLY)).toBe(true);
  });

  test("neither bundles the other side's sources", () => {
    expect(agent.inputs.filter((input) => input.startsWith("src/server/"))).toEqual([]);
    expect(server.inputs.filter((input) => input.startsWith("src/agent/"))).toEqual([]);
  });

  test("a second build with nothing changed reuses the executables", async () => {
    const again = await executables(["linux-x64"]);
    expect(Object.values(again).map((one) => one.reused)).toEqual([true, true]);
  });
});

test.skipIf(process.platform === "win32" || !Bun.which("sha256sum"))(
  "SHA256SUMS is in sha256sum's format",
  async () => {
    const dir = tempDir("relevo-sums-");
    writeFileSync(join(dir, "relevo-agent-linux-x64"), "agent");
    writeFileSync(join(dir, "relevo-server-windows-x64.exe"), "server");
    const sums = sha256sums([
      join(dir, "relevo-agent-linux-x64"),
      join(dir, "relevo-server-windows-x64.exe"),
    ]);
    writeFileSync(join(dir, "SHA256SUMS"), sums);
    const out = await run(["sha256sum", "-c", "SHA256SUMS"], { cwd: dir });
    expect(out.stdout).toBe("relevo-agent-linux-x64: OK\nrelevo-server-windows-x64.exe: OK\n");
    expect(out.code).toBe(0);
  },
);
