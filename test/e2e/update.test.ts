// Self-update end to end with compiled executables: agent 1.0.0 (A) and 1.1.0 (B) built with the
// version injected and one trusted key, the server importing signed releases. Refused, with A still
// reporting: a release signed with another key, one whose bytes changed after signing, an old release
// a compromised server labels as new (a downgrade), and a B that exits at once (rolled back). Then A
// updates to B, which reports as 1.1.0. Each command is an admin's POST heard over the long-poll.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, sha256sums } from "../../scripts/build.ts";
import { signRelease } from "../../scripts/sign-release.ts";
import { stage } from "../../src/agent/update/install-mode.ts";
import { keyLine, parsePublicKey } from "../../src/shared/release/minisign.ts";
import { generateKeyPair } from "../../src/shared/release/minisign-sign.ts";
import { BUILD_TIMEOUT_MS, type CompiledServer, executables, run, startServer, tempDir } from "./_run.ts";

const supported = process.platform === "linux" && process.arch === "x64";
const NAME = "relevo-agent-linux-x64";
const bare = (exe: string, ...args: string[]) => ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", exe, ...args];

interface AgentView {
  version: string;
  commands: { id: number; kind: string; state: string; message: string | null }[];
}

describe.skipIf(!supported)("self-update with the compiled agent and server", () => {
  let server = "";
  let data = "";
  let running: CompiledServer | undefined;
  let admin = "";
  let read = "";
  let agentProc: ReturnType<typeof Bun.spawn> | undefined;
  let agentLog = "";
  let agentId = 0;
  let exe = "";
  let trusted = { pub: "", sec: "" };
  let other = { pub: "", sec: "" };
  let bBuilt = "";
  let aBuilt = "";
  const work = tempDir("relevo-e2e-update-");

  const cli = async (...args: string[]) => {
    const out = await run(bare(server, ...args, "--data", data), { timeoutMs: 30_000 });
    return out;
  };
  const api = async (method: string, path: string, token: string) =>
    fetch(`${running?.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const view = async () => (await (await api("GET", `/api/agents/${agentId}`, read)).json()) as AgentView;

  /** Queues a command and waits for the agent's outcome of it. */
  async function command(kind: "collect" | "update", timeoutMs = 60_000) {
    const queued = await api("POST", `/api/agents/${agentId}/${kind}`, admin);
    expect(queued.status).toBe(202);
    const { command: sent } = (await queued.json()) as { command: { id: number } };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = (await view()).commands.find((one) => one.id === sent.id);
      if (found && (found.state === "done" || found.state === "failed")) return found;
      if (Date.now() > deadline)
        throw new Error(`command ${sent.id} has no outcome; agent log:\n${agentLog}`);
      await Bun.sleep(100);
    }
  }

  /** A release directory holding `body` as the agent executable, signed as `version`. */
  async function release(version: string, secretFile: string, body: Uint8Array | string): Promise<string> {
    const dir = join(work, `release-${version}-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    writeFileSync(join(dir, NAME), body);
    writeFileSync(join(dir, "SHA256SUMS"), sha256sums([join(dir, NAME)]));
    await signRelease(dir, readFileSync(secretFile, "utf8"), version, new Date());
    return dir;
  }

  async function add(dir: string) {
    const out = await cli("release", "add", dir, "--public-key", `${trusted.pub},${other.pub}`);
    expect(out.stderr + out.stdout).toContain("imported release");
  }

  beforeAll(async () => {
    for (const [which, pair] of [
      ["trusted", await generateKeyPair()],
      ["other", await generateKeyPair()],
    ] as const) {
      const paths = { pub: join(work, `${which}.pub`), sec: join(work, `${which}.key`) };
      writeFileSync(paths.pub, pair.publicKeyText);
      writeFileSync(paths.sec, pair.secretKeyText);
      if (which === "trusted") trusted = paths;
      else other = paths;
    }
    const key = keyLine(parsePublicKey(readFileSync(trusted.pub, "utf8")));
    const variant = async (version: string) => {
      const outdir = join(work, `build-${version}`);
      const [one] = await build({
        targets: ["linux-x64"],
        apps: ["agent"],
        outdir,
        sums: false,
        bytecode: false,
        version,
        updateKeys: [key],
      });
      return one?.path ?? "";
    };
    const a = await variant("1.0.0");
    aBuilt = a;
    bBuilt = await variant("1.1.0");
    const built = await executables(["linux-x64"], ["server"]);
    server = join(work, "relevo-server-linux-x64");
    copyFileSync(built["server-linux-x64"]?.path ?? "", server);
    chmodSync(server, 0o755);
    const bin = join(work, "bin");
    mkdirSync(bin);
    exe = join(bin, NAME);
    copyFileSync(a, exe);
    chmodSync(exe, 0o755);
    data = join(work, "data");
    mkdirSync(data);
    const token = async (role: string) =>
      (await cli("token", "create", "--role", role)).stdout.trim().split("\n").at(-1) ?? "";
    admin = await token("admin");
    read = await token("read");
    const enroll = await token("enroll");
    running = await startServer(bare(server, "serve", "--port", "0", "--data", data), data);
    const state = join(work, "state");
    agentProc = Bun.spawn(
      bare(
        exe,
        "run",
        "--url",
        running.url,
        "--spool",
        state,
        "--enroll-token",
        enroll,
        "--interval",
        "3600",
        "--no-command-lines",
      ),
      { cwd: work, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const decoder = new TextDecoder();
    for (const stream of [agentProc.stdout, agentProc.stderr] as ReadableStream<Uint8Array>[]) {
      void (async () => {
        for await (const chunk of stream) agentLog += decoder.decode(chunk);
      })();
    }
    const deadline = Date.now() + 60_000;
    while (!/registered as agent (\d+)/.test(agentLog)) {
      if (Date.now() > deadline || agentProc.exitCode !== null)
        throw new Error(`the agent did not register:\n${agentLog}`);
      await Bun.sleep(100);
    }
    agentId = Number(/registered as agent (\d+)/.exec(agentLog)?.[1]);
    // Its first report, then the long-poll is open.
    while (!(await view()).version) await Bun.sleep(100);
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    if (agentProc && agentProc.exitCode === null) {
      agentProc.kill("SIGTERM");
      const timer = setTimeout(() => agentProc?.kill("SIGKILL"), 15_000);
      await agentProc.exited;
      clearTimeout(timer);
    }
    await running?.stop();
  });

  test("a collect command is delivered and answered within 2 s", async () => {
    const started = performance.now();
    const done = await command("collect");
    expect(done.state).toBe("done");
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  test("a release signed with another key is refused; A still reports", async () => {
    await add(await release("1.2.0", other.sec, readFileSync(bBuilt)));
    const outcome = await command("update");
    expect(outcome.state).toBe("failed");
    expect(outcome.message).toContain("not trusted");
    expect((await cli("release", "remove", "1.2.0")).code).toBe(0);
    expect((await command("collect")).state).toBe("done");
    expect((await view()).version).toBe("1.0.0");
  });

  test("a release whose bytes changed after signing is refused", async () => {
    await add(await release("1.3.0", trusted.sec, readFileSync(bBuilt)));
    // What a compromised download host (or a bit flip) serves in place of the signed file.
    const served = join(data, "releases", "1.3.0", NAME);
    const bytes = readFileSync(served);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    writeFileSync(served, bytes);
    const outcome = await command("update");
    expect(outcome.state).toBe("failed");
    expect(outcome.message).toContain("SHA-256");
    expect((await cli("release", "remove", "1.3.0")).code).toBe(0);
    expect((await view()).version).toBe("1.0.0");
  });

  test("an old release labelled as new by a compromised server (a downgrade) is refused", async () => {
    await add(await release("0.9.0", trusted.sec, readFileSync(bBuilt)));
    const db = new Database(join(data, "relevo.db"));
    db.run("UPDATE releases SET version = '9.0.0' WHERE version = '0.9.0'");
    db.close();
    const outcome = await command("update");
    expect(outcome.state).toBe("failed");
    expect(outcome.message).toContain("signature is for 0.9.0, not 9.0.0");
    expect((await cli("release", "remove", "9.0.0")).code).toBe(0);
    expect((await command("collect")).state).toBe("done");
  });

  test("a new version that exits at once is rolled back and refused; A carries on", async () => {
    const script = '#!/bin/sh\nif [ "$1" = --version ]; then echo 1.5.0; exit 0; fi\nexit 3\n';
    await add(await release("1.5.0", trusted.sec, script));
    const outcome = await command("update", 90_000);
    expect(outcome.state).toBe("failed");
    expect(outcome.message).toContain("rolled back");
    expect(agentLog).toContain("exited with 3 before its first report");
    expect((await cli("release", "remove", "1.5.0")).code).toBe(0);
    expect((await command("collect", 60_000)).state).toBe("done");
    expect((await view()).version).toBe("1.0.0");
    // The previous executable is back in place.
    expect((await run([exe, "--version"])).stdout.trim()).toBe("1.0.0");
  }, 180_000);

  test("A updates to the signed B, which reports as 1.1.0", async () => {
    await add(await release("1.1.0", trusted.sec, readFileSync(bBuilt)));
    const outcome = await command("update", 120_000);
    expect(outcome).toMatchObject({ state: "done", message: "updated to 1.1.0" });
    expect((await run([exe, "--version"])).stdout.trim()).toBe("1.1.0");
    expect(existsSync(`${exe}.previous`)).toBe(true);
    expect((await view()).version).toBe("1.1.0");
    // B keeps its own long-poll: a collect reaches the new version.
    expect((await command("collect")).state).toBe("done");
    const reports = (await (
      await fetch(`${running?.url}/query?ip=127.0.0.1`, { headers: { authorization: `Bearer ${read}` } })
    ).json()) as { agent: { version: string } }[];
    expect(reports.at(-1)?.agent.version).toBe("1.1.0");
  }, 180_000);

  /** The root oneshot's command run by hand: a fake systemctl on PATH stands in for systemd. */
  async function applyUpdate(staged: { version: string; body: Uint8Array | string; secret: string }) {
    const root = join(work, `apply-${Math.random().toString(36).slice(2)}`);
    const state = join(root, "state");
    const bin = join(root, "bin");
    mkdirSync(state, { recursive: true });
    mkdirSync(bin);
    const installed = join(bin, "relevo-agent");
    copyFileSync(aBuilt, installed);
    chmodSync(installed, 0o755);
    const dir = await release(staged.version, staged.secret, readFileSync(bBuilt));
    // What the agent staged (the signed sums); then the file is swapped for `body` to test the re-check.
    stage(state, {
      version: staged.version,
      path: join(dir, NAME),
      file: NAME,
      sums: readFileSync(join(dir, "SHA256SUMS"), "utf8"),
      signature: readFileSync(join(dir, "SHA256SUMS.minisig"), "utf8"),
    });
    writeFileSync(join(state, "update", "staged", NAME), staged.body);
    const fake = join(root, "fake-bin");
    mkdirSync(fake);
    // On restart, the new version "delivers a report": its trial is confirmed.
    writeFileSync(
      join(fake, "systemctl"),
      `#!/bin/sh\necho "$@" >> "${root}/systemctl.log"\n[ "$1" = restart ] && sed -i 's/"confirmed": false/"confirmed": true/' "${state}/update/trial.json"\nexit 0\n`,
    );
    chmodSync(join(fake, "systemctl"), 0o755);
    const out = await run(
      ["/usr/bin/env", "-i", `PATH=${fake}:/usr/bin:/bin`, installed, "apply-update", "--state", state],
      {
        timeoutMs: 60_000,
      },
    );
    const log = existsSync(join(root, "systemctl.log"))
      ? readFileSync(join(root, "systemctl.log"), "utf8")
      : "";
    return { out, installed, state, log };
  }

  test("apply-update (the root oneshot) verifies the staged file again, swaps it in and restarts the service", async () => {
    const { out, installed, log } = await applyUpdate({
      version: "1.1.0",
      body: readFileSync(bBuilt),
      secret: trusted.sec,
    });
    expect(out.code).toBe(0);
    expect((await run([installed, "--version"])).stdout.trim()).toBe("1.1.0");
    expect((await run([`${installed}.previous`, "--version"])).stdout.trim()).toBe("1.0.0");
    expect(log).toBe("restart relevo-agent.service\n");
  }, 120_000);

  test("apply-update refuses a staged file changed after the agent verified it, and touches nothing", async () => {
    const changed = readFileSync(bBuilt);
    changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 1;
    const { out, installed, state, log } = await applyUpdate({
      version: "1.1.0",
      body: changed,
      secret: trusted.sec,
    });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("SHA-256 is not the signed one");
    expect((await run([installed, "--version"])).stdout.trim()).toBe("1.0.0");
    expect(log).toBe("");
    expect(existsSync(join(state, "update", "ready"))).toBe(false);
    const wrongKey = await applyUpdate({ version: "1.1.0", body: readFileSync(bBuilt), secret: other.sec });
    expect(wrongKey.out.stderr).toContain("not trusted");
    expect((await run([wrongKey.installed, "--version"])).stdout.trim()).toBe("1.0.0");
  }, 120_000);
});
