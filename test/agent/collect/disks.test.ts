// Disks against df, the ground truth admins read: on this host, and on tmpfs mounts made for the test in a
// private mount namespace (one of them full).
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Context } from "../../../src/agent/collect/_context.ts";
import { disksLinux } from "../../../src/agent/collect/disks.ts";
import type { DiskInfo, Report } from "../../../src/shared/report.ts";

const linux = process.platform === "linux";
const MiB = 1024 * 1024;

interface DfRow {
  source: string;
  fstype: string;
  size: number;
  used: number;
  avail: number;
  target: string;
}

function df(...args: string[]): DfRow[] {
  const out = Bun.spawnSync(["df", "-B1", "--output=source,fstype,size,used,avail,target", ...args]);
  return out.stdout
    .toString()
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => {
      const [source = "", fstype = "", size, used, avail, ...target] = line.trim().split(/\s+/);
      return {
        source,
        fstype,
        size: Number(size),
        used: Number(used),
        avail: Number(avail),
        target: target.join(" "),
      };
    });
}

/** The README's rule for tmpfs: listed unless read-only, /dev itself, or at or under /proc or /sys. */
function plumbing(target: string): boolean {
  const line = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .findLast((l) => l.split(" ")[1] === target);
  const readOnly = (line?.split(" ")[3] ?? "").split(",").includes("ro");
  return readOnly || target === "/dev" || /^\/(proc|sys)(\/|$)/.test(target);
}

const ctx = { root: "/", partial: () => {} } as unknown as Context;

describe.if(linux && Bun.which("df") !== null)("disks on this host", () => {
  test("agree with df -B1 on size, used and available, for every block device and every data tmpfs", async () => {
    const before = df();
    const disks = await disksLinux(ctx);
    const after = df();
    const ours = new Map(disks.map((disk) => [disk.mount, disk]));
    const expected = before.filter(
      (row) =>
        row.size > 0 &&
        ((row.source.startsWith("/dev/") && !row.source.startsWith("/dev/loop")) ||
          (row.fstype === "tmpfs" && !plumbing(row.target))),
    );
    expect(expected.length).toBeGreaterThan(0);
    for (const row of expected) {
      const disk = ours.get(row.target);
      const later = after.find((r) => r.target === row.target) ?? row;
      expect(disk?.size_bytes).toBe(row.size);
      // Other work writes to these disks meanwhile: ours lies between df's two readings, give or take.
      const between = (value: number | undefined, a: number, b: number) =>
        value !== undefined && value >= Math.min(a, b) - 64 * MiB && value <= Math.max(a, b) + 64 * MiB;
      expect({ mount: row.target, used: between(disk?.used_bytes, row.used, later.used) }).toEqual({
        mount: row.target,
        used: true,
      });
      expect({ mount: row.target, avail: between(disk?.available_bytes, row.avail, later.avail) }).toEqual({
        mount: row.target,
        avail: true,
      });
    }
  });

  test("shows the root filesystem's free space as df's Avail, reserved blocks not counted as free", async () => {
    const root = (await disksLinux(ctx)).find((disk) => disk.mount === "/") as DiskInfo;
    expect(root.available_bytes).toBeLessThanOrEqual(root.size_bytes - root.used_bytes);
  });
});

const canMount = linux && process.getuid?.() === 0 && Bun.which("unshare") !== null;

describe.skipIf(!canMount)("tmpfs mounts in a private mount namespace (unshare -m)", () => {
  test("lists a full tmpfs and a second one of the same name apart, and a bind mount once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "relevo-disks-"));
    try {
      const [full, other, bind] = ["full", "other", "bind"].map((name) => join(dir, name));
      const cli = join(import.meta.dir, "..", "..", "..", "src", "agent", "cli.ts");
      const script = [
        `mkdir ${full} ${other} ${bind}`,
        `mount -t tmpfs -o size=8m tmpfs ${full}`,
        `mount -t tmpfs -o size=4m tmpfs ${other}`,
        `mount --bind ${full} ${bind}`,
        // Fills it: head stops with ENOSPC, which is the point.
        `(head -c 16m /dev/zero > ${full}/fill 2>/dev/null || true)`,
        `df -B1 --output=source,fstype,size,used,avail,target ${full} ${other} > ${dir}/df.txt`,
        `exec ${process.execPath} ${cli} collect`,
      ].join(" && ");
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
      const disks = (JSON.parse(stdout) as Report).disks.filter((disk) => disk.mount.startsWith(dir));
      const rows = readFileSync(join(dir, "df.txt"), "utf8").trim().split("\n").slice(1);
      const want = rows.map((line) => {
        const [, fs = "", size, used, avail, mount = ""] = line.trim().split(/\s+/);
        return {
          mount,
          fs,
          size_bytes: Number(size),
          used_bytes: Number(used),
          available_bytes: Number(avail),
        };
      });
      expect(disks).toEqual(want);
      expect(disks[0]).toMatchObject({
        mount: full,
        size_bytes: 8 * MiB,
        used_bytes: 8 * MiB,
        available_bytes: 0,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const btrfs = canMount && Bun.which("mkfs.btrfs") !== null && Bun.which("btrfs") !== null;

describe.skipIf(!btrfs)("btrfs subvolumes mounted apart (btrfs-progs, a loop image, unshare -m)", () => {
  test("lists each mount as df does, not one per device", async () => {
    const dir = mkdtempSync(join(tmpdir(), "relevo-btrfs-"));
    try {
      const image = join(dir, "image");
      const [top, home, srv] = [join(dir, "top"), join(dir, "home"), join(dir, "srv")] as const;
      Bun.spawnSync(["truncate", "-s", "256M", image]);
      expect(Bun.spawnSync(["mkfs.btrfs", "-q", image]).exitCode).toBe(0);
      const cli = join(import.meta.dir, "..", "..", "..", "src", "agent", "cli.ts");
      // The loop device is released when the namespace's last mount of it goes (mount -o loop's autoclear).
      const script = [
        `mkdir ${top} ${home} ${srv}`,
        `mount -o loop ${image} ${top}`,
        `btrfs -q subvolume create ${top}/@home`,
        `btrfs -q subvolume create ${top}/@srv`,
        `mount -o subvol=@home ${image} ${home}`,
        `mount -o subvol=@srv ${image} ${srv}`,
        `head -c 8m /dev/urandom > ${home}/data`,
        "sync",
        `df -B1 --output=source,fstype,size,used,avail,target ${top} ${home} ${srv} > ${dir}/df.txt`,
        `exec ${process.execPath} ${cli} collect`,
      ].join(" && ");
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
      const disks = (JSON.parse(stdout) as Report).disks.filter((disk) => disk.mount.startsWith(dir));
      const rows = readFileSync(join(dir, "df.txt"), "utf8").trim().split("\n").slice(1);
      const want = rows.map((line) => {
        const [, fs = "", size, used, avail, mount = ""] = line.trim().split(/\s+/);
        return {
          mount,
          fs,
          size_bytes: Number(size),
          used_bytes: Number(used),
          available_bytes: Number(avail),
        };
      });
      expect(disks.map((disk) => disk.mount)).toEqual([top, home, srv]);
      expect(disks).toEqual(want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
