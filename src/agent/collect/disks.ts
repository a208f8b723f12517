// Mounted filesystems with their size, use and free space, as `df` shows them. Linux reads /proc/self/mounts
// and asks stat and statfs for each filesystem that holds data (what `df` does, without spawning it). Both
// run on libuv's thread pool, so a dead NFS server stalls one thread, not the agent: the collector's timeout
// still fires.
import { stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import type { DiskInfo } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readFirst } from "./_files.ts";
import { clip, count } from "./_limits.ts";
import { asList, num, parsePowerShellJson, str } from "./_powershell.ts";

/** Filesystems without a block device that still hold data people care about. */
const DATA_WITHOUT_DEVICE = new Set([
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "smbfs",
  "zfs",
  "btrfs",
  "ceph",
  "glusterfs",
  "fuse.sshfs",
  "9p",
  "virtiofs",
  "overlay",
]);
const REMOTE = new Set(["nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.sshfs"]);

interface Mount {
  device: string;
  mount: string;
  fs: string;
}

/**
 * A tmpfs holds files in memory and can fill up (a full /tmp or /dev/shm breaks programs), so it is listed,
 * except for kernel and container plumbing: a read-only one (container masks over /proc/kcore or
 * /sys/firmware, systemd's credential mounts: nothing can fill them), one at or under /proc or /sys, and
 * /dev itself (device nodes).
 */
function isDataTmpfs(mount: string, options: string): boolean {
  if (options.split(",").includes("ro")) return false;
  if (mount === "/dev" || mount === "/proc" || mount === "/sys") return false;
  return !mount.startsWith("/proc/") && !mount.startsWith("/sys/");
}

/** /proc/self/mounts, octal escapes decoded ("\040" is a space); only filesystems that hold data. */
export function parseMounts(text: string): Mount[] {
  const decode = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const [device, mount, fs, options = ""] = line.split(" ").map(decode);
    if (!device || !mount || !fs) continue;
    const data =
      (device.startsWith("/dev/") && !device.startsWith("/dev/loop")) || // loop: snaps and images, read-only
      DATA_WITHOUT_DEVICE.has(fs) ||
      (fs === "tmpfs" && isDataTmpfs(mount, options));
    if (data) mounts.push({ device, mount, fs });
  }
  return mounts;
}

/**
 * One entry per filesystem as df keeps it: mounts that stat to the same st_dev (bind mounts, the same
 * mount seen twice) are one, and the one nearest the root wins; a later mount on the same directory hides
 * the earlier one. btrfs subvolumes mounted separately have a st_dev each, so each is listed; remote
 * shares from different servers are kept apart even when they report the same st_dev.
 */
export function dedupeByDevice<T extends Mount & { dev: number }>(mounts: readonly T[]): T[] {
  const kept: T[] = [];
  const byDev = new Map<number, number>();
  for (const mount of mounts) {
    const index = byDev.get(mount.dev);
    const seen = index === undefined ? undefined : kept[index];
    if (index === undefined || !seen) {
      byDev.set(mount.dev, kept.push(mount) - 1);
      continue;
    }
    if (REMOTE.has(mount.fs) && REMOTE.has(seen.fs) && mount.device !== seen.device) {
      kept.push(mount);
      continue;
    }
    const realDevice = mount.device.includes("/") && !seen.device.includes("/");
    const overmounted = mount.device !== seen.device && mount.mount === seen.mount;
    if (realDevice || mount.mount.length < seen.mount.length || overmounted) kept[index] = mount;
  }
  return kept;
}

/** df's numbers: Size = blocks, Used = blocks - free, Avail = what a non-root user can still write. */
function diskFromStatfs(
  mount: Mount,
  stats: { blocks: number; bfree: number; bavail: number; bsize: number },
): DiskInfo {
  return {
    mount: clip(mount.mount, LIMITS.text),
    fs: clip(mount.fs),
    size_bytes: count(stats.blocks * stats.bsize),
    used_bytes: count((stats.blocks - stats.bfree) * stats.bsize),
    available_bytes: count(stats.bavail * stats.bsize),
  };
}

export async function disksLinux(ctx: Context): Promise<DiskInfo[]> {
  const text =
    readFirst(ctx, [
      ["proc", "self", "mounts"],
      ["proc", "mounts"],
    ]) ?? "";
  const measured = await Promise.all(
    parseMounts(text).map(async (mount) => {
      try {
        const path = join(ctx.root, mount.mount);
        const [info, stats] = await Promise.all([stat(path), statfs(path)]);
        return { ...mount, dev: info.dev, disk: diskFromStatfs(mount, stats) };
      } catch {
        return undefined; // gone, or not ours to read
      }
    }),
  );
  // df leaves out filesystems without blocks (cgroup, an empty overlay of nothing).
  const present = measured.filter((entry) => entry !== undefined && entry.disk.size_bytes > 0);
  return dedupeByDevice(present as NonNullable<(typeof measured)[number]>[])
    .map((entry) => entry.disk)
    .slice(0, LIMITS.disks);
}

/**
 * Local fixed volumes (DriveType 3) from Win32_Volume rather than Win32_LogicalDisk, which knows drive
 * letters only: a volume mounted in a folder ("D:\Mounts\Logs\") and a Cluster Shared Volume
 * ("C:\ClusterStorage\Volume1\", file system CSVFS) have no letter. Volumes with no mount point at all
 * (System Reserved, recovery: Name "\\?\Volume{...}\") are left out, as Explorer leaves them out.
 */
export const WINDOWS_DISKS_COMMAND =
  "ConvertTo-Json -Compress -InputObject @(Get-CimInstance Win32_Volume -Filter 'DriveType=3' | Where-Object { $_.Name -and $_.Name -notlike '\\\\?\\*' } | Select-Object Name,Label,FileSystem,Capacity,FreeSpace)";

type WindowsDisk = DiskInfo & { available_bytes: number; label: string };

export function parseWindowsDisks(text: string): WindowsDisk[] {
  return asList(parsePowerShellJson(text))
    .filter((disk) => num(disk.Capacity ?? disk.Size) > 0)
    .map((disk) => {
      const size = num(disk.Capacity ?? disk.Size);
      const free = num(disk.FreeSpace);
      // "C:\" is reported as "C:", as Windows names drives; a folder mount without its trailing backslash.
      const name = str(disk.Name ?? disk.DeviceID).replace(/\\$/, "");
      return {
        mount: clip(name, LIMITS.text),
        fs: clip(str(disk.FileSystem)),
        size_bytes: count(size),
        used_bytes: count(size - free),
        // NTFS has no reserved blocks: what is free is what anyone with write access can still use.
        available_bytes: count(free),
        label: clip(str(disk.Label)),
      };
    })
    .slice(0, LIMITS.disks);
}

export async function disksWindows(ctx: Context): Promise<DiskInfo[]> {
  return parseWindowsDisks(await ctx.powerShell(WINDOWS_DISKS_COMMAND));
}
