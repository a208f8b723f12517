// Sources that exist but cannot be read: each is named in `errors` under its collector, and the field it
// feeds stays empty or null instead of a plausible guess.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { collectReport } from "../../../src/agent/collect/index.ts";
import { checkReport, type Report } from "../../../src/shared/report.ts";

const linux = process.platform === "linux";
const root = process.getuid?.() === 0;

/** Root reads a mode-000 file anyway: for root, a directory in its place is what cannot be read. */
function unreadable(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  if (root) {
    mkdirSync(path);
  } else {
    writeFileSync(path, "secret\n");
    chmodSync(path, 0o000);
  }
}

function file(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

describe.if(linux)("a tree whose sources cannot be read", () => {
  const tree = mkdtempSync(join(tmpdir(), "relevo-unreadable-"));
  afterAll(() => rmSync(tree, { recursive: true, force: true }));
  let report: Report;

  test("names each source and its collector in errors", async () => {
    unreadable(join(tree, "proc", "stat"));
    unreadable(join(tree, "proc", "cpuinfo"));
    unreadable(join(tree, "proc", "uptime"));
    unreadable(join(tree, "etc", "os-release"));
    file(join(tree, "usr", "lib", "os-release"), 'NAME="Not This One"\n');
    unreadable(join(tree, "run", "utmp"));
    file(join(tree, "sys", "class", "dmi", "id", "sys_vendor"), "QEMU\n");
    unreadable(join(tree, "sys", "class", "dmi", "id", "product_serial"));
    unreadable(join(tree, "sys", "class", "dmi", "id", "product_uuid"));
    report = await collectReport({ root: tree, sampleMs: 0 });
    const errors = report.errors.map((error) => `${error.collector} ${error.message.split(":")[0]}`);
    for (const line of [
      "cpu /proc/stat",
      "cpu /proc/cpuinfo",
      "processes /proc/uptime",
      "os /etc/os-release",
      "users /run/utmp",
      "system /sys/class/dmi/id/product_serial",
      "system /sys/class/dmi/id/product_uuid",
    ]) {
      expect(errors).toContain(line);
    }
    expect(report.errors.find((error) => error.message.startsWith("/proc/stat"))?.message).toMatch(
      root ? /EISDIR/ : /EACCES/,
    );
    expect(checkReport(report).ok).toBe(true);
  });

  test("leaves the fields those sources feed empty or null, not invented", () => {
    expect(report.cpu).toMatchObject({ manufacturer: "", model: "", load_percent: null, physical_cores: 0 });
    // /etc/os-release exists: /usr/lib/os-release is only for when it does not.
    expect(report.os).toMatchObject({ name: "", version: "", pretty_name: "" });
    expect(report.users).toEqual([]);
    expect(report.system).toEqual({ manufacturer: "QEMU", model: "", serial: "", uuid: "" });
  });

  test("says so when there is neither utmp nor logind to read sessions from", async () => {
    const empty = mkdtempSync(join(tree, "empty-"));
    const bare = await collectReport({ root: empty, sampleMs: 0 });
    expect(bare.errors.find((error) => error.collector === "users")?.message).toMatch(
      /sessions could not be read/,
    );
  });
});

// The real paths, made unreadable in a private mount namespace, and the agent run as nobody (as the issue
// reproduces it): needs root for unshare and mount, and util-linux's unshare and setpriv.
const tools = linux && root && Bun.which("unshare") !== null && Bun.which("setpriv") !== null;

describe.skipIf(!tools)("the agent as nobody, with real sources made unreadable (unshare -m)", () => {
  test("names /proc/stat, /proc/cpuinfo, /etc/os-release and /run/utmp, and fills what it still can", async () => {
    const dir = mkdtempSync(join(tmpdir(), "relevo-ns-"));
    try {
      const zero = join(dir, "zero");
      writeFileSync(zero, "");
      chmodSync(zero, 0o000);
      const cli = join(import.meta.dir, "..", "..", "..", "src", "agent", "cli.ts");
      const script = [
        `mount --bind ${zero} /proc/stat`,
        `mount --bind ${zero} /proc/cpuinfo`,
        `mount --bind ${zero} /etc/os-release`,
        "mount -t tmpfs tmpfs /run",
        ": > /run/utmp",
        "chmod 000 /run/utmp",
        `exec setpriv --reuid 65534 --regid 65534 --clear-groups env HOME=${dir} BUN_RUNTIME_TRANSPILER_CACHE_PATH=0 ${process.execPath} ${cli} collect`,
      ].join(" && ");
      const child = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
      const report = JSON.parse(stdout) as Report;
      expect(report.errors).toEqual(
        expect.arrayContaining([
          { collector: "cpu", message: "/proc/stat: EACCES: permission denied" },
          { collector: "cpu", message: "/proc/cpuinfo: EACCES: permission denied" },
          { collector: "os", message: "/etc/os-release: EACCES: permission denied" },
          { collector: "users", message: "/run/utmp: EACCES: permission denied" },
        ]),
      );
      expect(report.cpu.load_percent).toBeNull();
      expect(report.cpu.model).toBe("");
      expect(report.os.name).toBe("");
      expect(report.os.kernel).not.toBe("");
      expect(report.processes.total).toBeGreaterThan(2);
      // Start times come from /proc/uptime, which stays readable.
      expect(report.processes.list.filter((process) => process.started_at === null)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
