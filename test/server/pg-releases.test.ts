// Releases with servers on one real PostgreSQL: `release add --database` verifies and stores the release
// (executable in chunks), every server offers it, the download through another server is the signed bytes;
// rollout and remove are seen by all; bad input is refused with the reason.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { signRelease } from "../../scripts/sign-release.ts";
import { sha256Hex } from "../../src/shared/release/manifest.ts";
import { generateKeyPair } from "../../src/shared/release/minisign-sign.ts";
import { databaseName, type PgCluster, postgresMissing, startPostgres } from "../helpers/postgres.ts";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../helpers/server.ts";

const missing = postgresMissing();
let pg: PgCluster;
const running: RunningServer[] = [];

beforeAll(async () => {
  if (!missing) pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  for (const server of running.splice(0)) if (server.proc.exitCode === null) await server.stop("SIGKILL");
  await pg?.stop();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([BUN, join(REPO, "src", "server", "cli.ts"), ...args], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out, err };
}

/** A signed release directory with one agent executable of `bytes` (several chunks when large). */
async function releaseDir(version: string, secret: string, bytes: Uint8Array): Promise<string> {
  const dir = tempDir("relevo-release-");
  writeFileSync(join(dir, "relevo-agent-linux-x64"), bytes);
  writeFileSync(join(dir, "SHA256SUMS"), `${sha256Hex(bytes)}  relevo-agent-linux-x64\n`);
  await signRelease(dir, secret, version, new Date("2026-12-01T12:00:00Z"));
  return dir;
}

describe.skipIf(missing !== null)(`releases on PostgreSQL${missing ? ` (skipped: ${missing})` : ""}`, () => {
  test("added once through the CLI, offered and downloaded through either server", async () => {
    const url = await pg.createDatabase(databaseName("releases"));
    const token = async (role: string) =>
      (await cli("token", "create", "--role", role, "--database", url)).out.trim().split("\n").at(-1) ?? "";
    const enroll = await token("enroll");
    const read = await token("read");
    const pair = await generateKeyPair();
    const keyFile = join(tempDir(), "release.pub");
    writeFileSync(keyFile, pair.publicKeyText);
    const otherKey = join(tempDir(), "other.pub");
    writeFileSync(otherKey, (await generateKeyPair()).publicKeyText);

    // 2.5 MiB: three chunks, the last one short.
    const bytes = new Uint8Array(randomBytes(2.5 * 1024 * 1024));
    const dir = await releaseDir("2.0.0", pair.secretKeyText, bytes);
    const wrong = await cli("release", "add", dir, "--public-key", otherKey, "--database", url);
    expect(wrong.code).not.toBe(0);
    expect(wrong.err).toContain("not trusted");
    expect((await cli("release", "list", "--database", url)).out).toContain("no releases");
    const added = await cli("release", "add", dir, "--public-key", keyFile, "--database", url);
    expect(added.err).toBe("");
    expect(added.code).toBe(0);
    expect(added.out).toContain("imported release 2.0.0");
    const again = await cli("release", "add", dir, "--public-key", keyFile, "--database", url);
    expect(again.code).not.toBe(0);
    expect(again.err).toContain("already imported");
    expect((await cli("release", "list", "--database", url)).out).toContain("2.0.0");

    const [a, b] = await Promise.all([startServer(["--database", url]), startServer(["--database", url])]);
    if (!a || !b) throw new Error("servers did not start");
    running.push(a, b);
    const registered = await fetch(`${a.url}/api/agents/register`, {
      method: "POST",
      headers: { authorization: `Bearer ${enroll}`, "content-type": "application/json" },
      body: JSON.stringify({
        hostname: "web-1",
        os_type: "Linux",
        os_version: "6.1",
        agent_version: "1.0.0",
      }),
    });
    expect(registered.status).toBe(200);
    const agent = (await registered.json()) as { agent_id: number; token: string };
    const asAgent = (server: RunningServer, path: string, version = "1.0.0") =>
      fetch(new URL(path, server.url), {
        headers: {
          authorization: `Bearer ${agent.token}`,
          "x-agent-id": String(agent.agent_id),
          "x-agent-version": version,
          "x-agent-platform": "linux-x64",
        },
      });

    // Checked on B (not the server the agent registered with), downloaded from B and from A.
    const check = (await (await asAgent(b, "/api/updates/check")).json()) as Record<string, unknown>;
    expect(check).toMatchObject({
      update_available: true,
      latest_version: "2.0.0",
      sha256: sha256Hex(bytes),
    });
    const link = new URL(String(check.download_url));
    expect(link.port).toBe(String(b.port));
    for (const server of [b, a]) {
      const download = await asAgent(server, link.pathname);
      expect(download.status).toBe(200);
      const got = new Uint8Array(await download.arrayBuffer());
      expect(got.length).toBe(bytes.length);
      expect(sha256Hex(got)).toBe(sha256Hex(bytes));
    }
    expect(
      (await fetch(new URL(link.pathname, a.url), { headers: { authorization: `Bearer ${read}` } })).status,
    ).toBe(401);
    for (const path of [
      "/api/updates/download/2.0.0/..%2Frelevo.db",
      "/api/updates/download/2.0.0/relevo-agent-windows-x64.exe",
      "/api/updates/download/9.9.9/relevo-agent-linux-x64",
      "/api/updates/download/x'%3B--/relevo-agent-linux-x64",
    ]) {
      expect((await asAgent(a, path)).status).toBe(404);
    }
    expect(await (await asAgent(a, "/api/updates/check", "2.0.0")).json()).toEqual({
      update_available: false,
    });

    // Rollout and remove through the CLI: both servers see them at once.
    const bad = await cli("release", "rollout", "2.0.0", "--percent", "0", "--database", url);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain("--percent");
    const unknown = await cli("release", "rollout", "3.0.0", "--percent", "50", "--database", url);
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toContain("no release 3.0.0");
    expect((await cli("release", "rollout", "2.0.0", "--percent", "50", "--database", url)).code).toBe(0);
    expect((await cli("release", "list", "--database", url)).out).toMatch(/2\.0\.0 .* 50/);
    expect((await cli("release", "remove", "2.0.0", "--database", url)).code).toBe(0);
    expect(await (await asAgent(a, "/api/updates/check")).json()).toEqual({ update_available: false });
    expect((await asAgent(b, link.pathname)).status).toBe(404);
    const gone = await cli("release", "remove", "2.0.0", "--database", url);
    expect(gone.code).not.toBe(0);
    expect(gone.err).toContain("no release 2.0.0");
    for (const server of running.splice(0)) await server.stop();
  }, 60_000);
});
