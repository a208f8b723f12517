// Process owners named as the C library names them: nsswitch.conf's passwd sources, extrausers among them
// (libnss-extrausers from Debian's packages for the side-by-side with ps).
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectReport } from "../../../src/agent/collect/index.ts";

const linux = process.platform === "linux";
const root = linux && process.getuid?.() === 0 && Bun.which("setpriv") !== null;
const EXTRA = "extra-alice:x:4242:4242:Alice from extrausers:/home/extra-alice:/bin/sh\n";

/** A process running as `uid` until the test ends (root only: setpriv changes the uid). */
function runAs(uid: number): Bun.Subprocess {
  return Bun.spawn(
    ["setpriv", "--reuid", String(uid), "--regid", String(uid), "--clear-groups", "sleep", "45"],
    {
      stdio: ["ignore", "ignore", "ignore"],
    },
  );
}

describe.skipIf(!root)("owners under a root of files", () => {
  const tree = mkdtempSync(join(tmpdir(), "relevo-nss-"));
  const owner = root ? runAs(4242) : undefined;
  afterAll(async () => {
    owner?.kill();
    await owner?.exited;
    rmSync(tree, { recursive: true, force: true });
  });

  test("names a uid only /var/lib/extrausers/passwd has, when nsswitch.conf lists extrausers", async () => {
    mkdirSync(join(tree, "etc"));
    mkdirSync(join(tree, "var", "lib", "extrausers"), { recursive: true });
    symlinkSync("/proc", join(tree, "proc"));
    writeFileSync(join(tree, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    writeFileSync(join(tree, "etc", "nsswitch.conf"), "passwd: files extrausers\n");
    writeFileSync(join(tree, "var", "lib", "extrausers", "passwd"), EXTRA);
    await Bun.sleep(100);
    const report = await collectReport({ root: tree, sampleMs: 0 });
    expect(report.processes.list.find((p) => p.pid === owner?.pid)?.user).toBe("extra-alice");
  });

  test("leaves a uid no listed source has as its number, like ps", async () => {
    writeFileSync(join(tree, "etc", "nsswitch.conf"), "passwd: files\n");
    const report = await collectReport({ root: tree, sampleMs: 0 });
    expect(report.processes.list.find((p) => p.pid === owner?.pid)?.user).toBe("4242");
  });
});

const extrausers = ["/usr/lib", "/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"].some(
  (dir) => existsSync(join(dir, "libnss_extrausers.so.2")),
);

describe.skipIf(!(root && extrausers && Bun.which("unshare") && Bun.which("ps")))(
  "owners side by side with ps, with libnss-extrausers in a private mount namespace",
  () => {
    test("the C library's answer (getpwuid_r through bun:ffi) and the agent's both match ps", async () => {
      const dir = mkdtempSync(join(tmpdir(), "relevo-nss-ns-"));
      try {
        mkdirSync(join(dir, "extrausers"));
        writeFileSync(join(dir, "extrausers", "passwd"), EXTRA.replace(/4242/g, "4243"));
        writeFileSync(join(dir, "nsswitch.conf"), "passwd: files extrausers\n");
        const nss = join(import.meta.dir, "..", "..", "..", "src", "agent", "collect", "_nss.ts");
        const cli = join(import.meta.dir, "..", "..", "..", "src", "agent", "cli.ts");
        writeFileSync(
          join(dir, "library.ts"),
          `import { libraryNames } from ${JSON.stringify(nss)};\nconsole.log(JSON.stringify([...libraryNames([4243, 0, 3999999], console.error)]));\n`,
        );
        const script = [
          `mount --bind ${join(dir, "nsswitch.conf")} /etc/nsswitch.conf`,
          `mount --bind ${join(dir, "extrausers")} /var/lib/extrausers`,
          "setpriv --reuid 4243 --regid 4243 --clear-groups sleep 30 & pid=$!",
          "sleep 0.2",
          "echo $pid",
          "ps -o user= -p $pid",
          `${process.execPath} ${join(dir, "library.ts")}`,
          `${process.execPath} ${cli} collect`,
          "kill $pid",
          "wait",
        ].join("\n");
        const child = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], {
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
        });
        const [stdout, stderr, code] = await Promise.all([
          new Response(child.stdout).text(),
          new Response(child.stderr).text(),
          child.exited,
        ]);
        expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
        const [pid = "", ps = "", library = "", ...rest] = stdout.split("\n");
        const report = JSON.parse(rest.join("\n")) as {
          processes: { list: { pid: number; user: string }[] };
        };
        expect(ps.trim()).toBe("extra-alice");
        expect(JSON.parse(library)).toEqual([
          [4243, "extra-alice"],
          [0, "root"],
        ]);
        expect(report.processes.list.find((p) => p.pid === Number(pid))?.user).toBe("extra-alice");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

const nssSystemd = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib",
].some((dir) => existsSync(join(dir, "libnss_systemd.so.2")));

describe.skipIf(!(root && nssSystemd && Bun.which("unshare") && Bun.which("ps")))(
  "an owner only a module names (nss-systemd's nobody, with /etc/passwd lacking it)",
  () => {
    test("is named through the C library in the report, as ps names it", async () => {
      const dir = mkdtempSync(join(tmpdir(), "relevo-nss-systemd-"));
      try {
        const passwd = (await Bun.file("/etc/passwd").text())
          .split("\n")
          .filter((line) => !line.startsWith("nobody:"))
          .join("\n");
        writeFileSync(join(dir, "passwd"), passwd);
        writeFileSync(join(dir, "nsswitch.conf"), "passwd: files systemd\n");
        const cli = join(import.meta.dir, "..", "..", "..", "src", "agent", "cli.ts");
        const script = [
          `mount --bind ${join(dir, "passwd")} /etc/passwd`,
          `mount --bind ${join(dir, "nsswitch.conf")} /etc/nsswitch.conf`,
          "setpriv --reuid 65534 --regid 65534 --clear-groups sleep 30 & pid=$!",
          "sleep 0.2",
          "echo $pid",
          "ps -o user= -p $pid",
          `${process.execPath} ${cli} collect`,
          "kill $pid",
          "wait",
        ].join("\n");
        const child = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], {
          stdout: "pipe",
          stderr: "ignore",
          env: { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
        });
        const [stdout, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
        expect(code).toBe(0);
        const [pid = "", ps = "", ...rest] = stdout.split("\n");
        const report = JSON.parse(rest.join("\n")) as {
          processes: { list: { pid: number; user: string }[] };
        };
        expect(ps.trim()).toBe("nobody");
        expect(report.processes.list.find((p) => p.pid === Number(pid))?.user).toBe("nobody");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
