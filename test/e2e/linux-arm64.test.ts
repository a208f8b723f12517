// The linux-arm64 executables run for real under qemu-user on this x64 machine (qemu-user-static and
// libc6-arm64-cross from Debian's packages, installed by .ci/run): --version, collect, and a delivery from
// the arm64 agent to the x64 server on 127.0.0.1. Emulated, Bun starts in about a second.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { VERSION } from "../../src/shared/version.ts";
import {
  BUILD_TIMEOUT_MS,
  type CompiledServer,
  executables,
  isolate,
  reportsFrom127,
  run,
  startServer,
  tempDir,
} from "./_run.ts";

const QEMU = Bun.which("qemu-aarch64-static");
const SYSROOT = "/usr/aarch64-linux-gnu";
const why =
  process.platform !== "linux" || process.arch !== "x64"
    ? `not on linux-x64 (${process.platform}-${process.arch})`
    : !QEMU
      ? "qemu-aarch64-static not found (apt-get install qemu-user-static)"
      : !existsSync(`${SYSROOT}/lib/ld-linux-aarch64.so.1`)
        ? `no arm64 C library in ${SYSROOT} (apt-get install libc6-arm64-cross)`
        : "";
if (why) console.warn(`e2e: skipping the linux-arm64 executables under qemu: ${why}`);

/** `env -i PATH=/usr/bin:/bin qemu-aarch64-static -L /usr/aarch64-linux-gnu exe ...`. */
const emulated = (exe: string, ...args: string[]) => [
  "/usr/bin/env",
  "-i",
  "PATH=/usr/bin:/bin",
  QEMU ?? "qemu-aarch64-static",
  "-L",
  SYSROOT,
  exe,
  ...args,
];

describe.skipIf(Boolean(why))(
  `the linux-arm64 executables under qemu-user${why ? ` (skipped: ${why})` : ""}`,
  () => {
    let agent = "";
    let server = "";
    let x64Server = "";
    let running: CompiledServer | undefined;

    beforeAll(async () => {
      const arm = await executables(["linux-arm64"]);
      const x64 = await executables(["linux-x64"], ["server"]);
      const bin = isolate([
        arm["agent-linux-arm64"]?.path ?? "",
        arm["server-linux-arm64"]?.path ?? "",
        x64["server-linux-x64"]?.path ?? "",
      ]);
      agent = bin["relevo-agent-linux-arm64"] ?? "";
      server = bin["relevo-server-linux-arm64"] ?? "";
      x64Server = bin["relevo-server-linux-x64"] ?? "";
    }, BUILD_TIMEOUT_MS);

    afterAll(async () => {
      await running?.stop();
    });

    test("both print the version", async () => {
      for (const exe of [agent, server]) {
        const out = await run(emulated(exe, "--version"), {
          cwd: tempDir("relevo-arm64-"),
          timeoutMs: 30_000,
        });
        expect(out.code, out.stderr).toBe(0);
        expect(out.stdout.trim()).toBe(VERSION);
      }
    }, 70_000);

    test("the agent collects a report that says arm64, with processes, and no core collector failing", async () => {
      const out = await run(emulated(agent, "collect"), { cwd: tempDir("relevo-arm64-"), timeoutMs: 45_000 });
      expect(out.code, out.stderr).toBe(0);
      const report = JSON.parse(out.stdout) as {
        os: { platform: string; arch: string };
        host: { hostname: string };
        processes: { total: number };
        errors: unknown[];
      };
      expect(report.os).toMatchObject({ platform: "linux", arch: "arm64" });
      expect(report.host.hostname).not.toBe("");
      expect(report.processes.total).toBeGreaterThan(0);
      // Sources only root may read (DMI serials) can land in errors elsewhere; these never should.
      const core = ["host", "os", "cpu", "memory", "processes", "disks", "network"];
      expect(
        (report.errors as { collector: string }[]).filter((error) => core.includes(error.collector)),
      ).toEqual([]);
    }, 60_000);

    test("the agent delivers to the x64 server over 127.0.0.1", async () => {
      const data = tempDir("relevo-arm64-data-");
      running = await startServer(
        [
          "/usr/bin/env",
          "-i",
          "PATH=/usr/bin:/bin",
          x64Server,
          "serve",
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--data",
          data,
        ],
        tempDir("relevo-arm64-"),
      );
      const out = await run(
        emulated(agent, "run", "--once", "--url", running.url, "--spool", tempDir("relevo-arm64-spool-")),
        {
          cwd: tempDir("relevo-arm64-"),
          timeoutMs: 60_000,
        },
      );
      expect(out.code, out.stderr).toBe(0);
      const reports = (await reportsFrom127(running.url)) as {
        os: { arch: string };
        agent: { version: string };
      }[];
      expect(reports.at(-1)?.os.arch).toBe("arm64");
      expect(reports.at(-1)?.agent.version).toBe(VERSION);
    }, 90_000);
  },
);
