// Releases and commands against the real server on 127.0.0.1 with tokens: release add verifies what it
// imports (wrong key, changed bytes refused), the update check offers the signed release with its
// download, an admin's collect reaches an open long-poll within 2 s, a second poll replaces the first, and
// a revocation by the CLI (another process) cuts a waiting poll off.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { signRelease } from "../../../scripts/sign-release.ts";
import { sha256Hex } from "../../../src/shared/release/manifest.ts";
import { generateKeyPair } from "../../../src/shared/release/minisign-sign.ts";
import { BUN, REPO, type RunningServer, startServer, tempDir } from "../../helpers/server.ts";

async function cli(dataDir: string, ...args: string[]) {
  const proc = Bun.spawn([BUN, join(REPO, "src", "server", "cli.ts"), ...args, "--data", dataDir], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, out, err };
}

/** A release directory with one fake agent executable, signed with `secret` as `version`. */
async function releaseDir(version: string, secret: string, body = `agent ${version}`): Promise<string> {
  const dir = tempDir("relevo-release-");
  writeFileSync(join(dir, "relevo-agent-linux-x64"), body);
  writeFileSync(
    join(dir, "SHA256SUMS"),
    `${sha256Hex(new TextEncoder().encode(body))}  relevo-agent-linux-x64\n`,
  );
  await signRelease(dir, secret, version, new Date("2026-12-01T12:00:00Z"));
  return dir;
}

describe("releases and commands", () => {
  let server: RunningServer;
  let data = "";
  let admin = "";
  let read = "";
  let agent = { id: 0, token: "" };
  let keyFile = "";
  let secret = "";
  let otherSecret = "";

  const api = (path: string, token: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
    });
  const asAgent = (path: string, init: RequestInit = {}) =>
    api(path, agent.token, {
      ...init,
      headers: {
        "x-agent-id": String(agent.id),
        "x-agent-version": "1.0.0",
        "x-agent-platform": "linux-x64",
        "content-type": "application/json",
      },
    });

  beforeAll(async () => {
    data = tempDir("relevo-control-");
    const token = async (role: string) =>
      (await cli(data, "token", "create", "--role", role)).out.trim().split("\n").at(-1) ?? "";
    admin = await token("admin");
    read = await token("read");
    const enroll = await token("enroll");
    const pair = await generateKeyPair();
    secret = pair.secretKeyText;
    otherSecret = (await generateKeyPair()).secretKeyText;
    keyFile = join(data, "..", `${pair.id}.pub`);
    writeFileSync(keyFile, pair.publicKeyText);
    server = await startServer([], data);
    const registered = await api("/api/agents/register", enroll, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        hostname: "web-1",
        os_type: "Linux",
        os_version: "6.1",
        agent_version: "1.0.0",
      }),
    });
    const body = (await registered.json()) as { agent_id: number; token: string };
    agent = { id: body.agent_id, token: body.token };
  });

  afterAll(async () => {
    await server?.stop();
  });

  test("release add refuses a wrong key, changed bytes, and no --public-key", async () => {
    const wrong = await releaseDir("2.0.0", otherSecret);
    const refused = await cli(data, "release", "add", wrong, "--public-key", keyFile);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain("not trusted");
    const changed = await releaseDir("2.0.0", secret);
    writeFileSync(join(changed, "relevo-agent-linux-x64"), "agent 2.0.0 but changed");
    const tampered = await cli(data, "release", "add", changed, "--public-key", keyFile);
    expect(tampered.code).not.toBe(0);
    expect(tampered.err).toContain("differs from the signed SHA256SUMS");
    const noKey = await cli(data, "release", "add", changed);
    expect(noKey.err).toContain("--public-key");
    expect((await cli(data, "release", "list")).out).toContain("no releases");
  });

  test("the update check offers the signed release and its download; older or equal agents only", async () => {
    const before = await asAgent("/api/updates/check");
    expect(await before.json()).toEqual({ update_available: false });
    const dir = await releaseDir("2.0.0", secret);
    const changelog = join(dir, "CHANGES");
    writeFileSync(changelog, "faster\n");
    const added = await cli(data, "release", "add", dir, "--public-key", keyFile, "--changelog", changelog);
    expect(added.code).toBe(0);
    expect(added.out).toContain("imported release 2.0.0");
    expect((await cli(data, "release", "add", dir, "--public-key", keyFile)).err).toContain(
      "already imported",
    );
    const check = (await (await asAgent("/api/updates/check")).json()) as Record<string, string>;
    expect(check.update_available).toBe(true as unknown as string);
    expect(check.latest_version).toBe("2.0.0");
    expect(check.changelog).toBe("faster\n");
    expect(check.sha256).toBe(sha256Hex(new TextEncoder().encode("agent 2.0.0")));
    expect(check.signature).toContain("trusted comment: relevo-release version:2.0.0");
    const download = await api(new URL(check.download_url ?? "").pathname, agent.token, {
      headers: { "x-agent-id": String(agent.id), "x-agent-version": "1.0.0" },
    });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe("agent 2.0.0");
    const stranger = await fetch(check.download_url ?? "", { headers: { authorization: `Bearer ${read}` } });
    expect(stranger.status).toBe(401);
    const same = await api("/api/updates/check", agent.token, {
      headers: { "x-agent-id": String(agent.id), "x-agent-version": "2.0.0" },
    });
    expect(await same.json()).toEqual({ update_available: false });
    const badPlatform = await api("/api/updates/check", agent.token, {
      headers: { "x-agent-id": String(agent.id), "x-agent-version": "1.0.0", "x-agent-platform": "../etc" },
    });
    expect(badPlatform.status).toBe(400);
    const missing = await asAgent("/api/updates/download/2.0.0/..%2Frelevo.db");
    expect(missing.status).toBe(404);
  });

  test("a collect command reaches an open long-poll within 2 s, and its outcome shows on the agent", async () => {
    const started = performance.now();
    const poll = asAgent(`/api/agents/${agent.id}/commands?wait=55`);
    await Bun.sleep(200);
    const queued = await api(`/api/agents/${agent.id}/collect`, admin, { method: "POST" });
    expect(queued.status).toBe(202);
    const answer = (await (await poll).json()) as { commands: { id: number; kind: string }[] };
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(answer.commands.map((c) => c.kind)).toEqual(["collect"]);
    const id = answer.commands[0]?.id;
    const outcome = await asAgent(`/api/agents/${agent.id}/commands/${id}`, {
      method: "POST",
      body: JSON.stringify({ state: "done", message: "report delivered" }),
    });
    expect(outcome.status).toBe(200);
    const shown = (await (await api(`/api/agents/${agent.id}`, read)).json()) as {
      commands: { state: string; message: string }[];
    };
    expect(shown.commands[0]).toMatchObject({ state: "done", message: "report delivered" });
  });

  test("commands need an admin token, a sane wait, and the agent's own token", async () => {
    expect((await api(`/api/agents/${agent.id}/update`, read, { method: "POST" })).status).toBe(403);
    expect((await api(`/api/agents/999/update`, admin, { method: "POST" })).status).toBe(404);
    expect((await asAgent(`/api/agents/${agent.id}/commands?wait=999`)).status).toBe(400);
    expect((await asAgent(`/api/agents/${agent.id}/commands?wait=-1`)).status).toBe(400);
    expect((await api(`/api/agents/${agent.id}/commands?wait=1`, admin)).status).toBe(401);
    const bad = await asAgent(`/api/agents/${agent.id}/commands/1`, {
      method: "POST",
      body: '{"state":"maybe"}',
    });
    expect(bad.status).toBe(422);
  });

  test("a second poll replaces the first (409); a revocation cuts the waiting poll off (401)", async () => {
    const first = asAgent(`/api/agents/${agent.id}/commands?wait=55`);
    await Bun.sleep(200);
    const second = asAgent(`/api/agents/${agent.id}/commands?wait=55`);
    const replaced = await first;
    expect(replaced.status).toBe(409);
    expect(((await replaced.json()) as { error: { code: string } }).error.code).toBe("poll_replaced");
    const started = performance.now();
    expect((await cli(data, "agent", "revoke", String(agent.id))).code).toBe(0);
    const cut = await second;
    expect(cut.status).toBe(401);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
