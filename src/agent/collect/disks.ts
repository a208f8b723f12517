// Mounted filesystems with their size and use. Linux reads /proc/self/mounts and asks statfs for each real
// filesystem (what `df` does, without spawning it). statfs runs on libuv's thread pool, so a dead NFS
// server stalls one thread, not the agent: the collector's timeout still fires.
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import type { DiskInfo } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
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

export interface Mount {
  device: string;
  mount: string;
  fs: string;
}

/** /proc/self/mounts, octal escapes decoded ("\040" is a space); only filesystems that hold data. */
export function parseMounts(text: string): Mount[] {
  const decode = (field: string) =>
    field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
  const seen = new Set<string>();
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const [device, mount, fs] = line.split(" ").map(decode);
    if (!device || !mount || !fs) continue;
    if (!device.startsWith("/dev/") && !DATA_WITHOUT_DEVICE.has(fs)) continue;
    if (device.startsWith("/dev/loop")) continue; // snaps and images: read-only, always 100 % used
    // A bind mount shows the same device again; df lists each device once.
    const key = `${device}\0${fs}`;
    if (seen.has(key) && fs !== "nfs" && fs !== "nfs4" && fs !== "cifs") continue;
    seen.add(key);
    mounts.push({ device, mount, fs });
  }
  return mounts;
}

export async function disksLinux(ctx: Context): Promise<DiskInfo[]> {
  const text = readText(ctx.root, "proc", "self", "mounts") ?? readText(ctx.root, "proc", "mounts") ?? "";
  const mounts = parseMounts(text).slice(0, LIMITS.disks);
  const disks = await Promise.all(
    mounts.map(async ({ mount, fs }): Promise<DiskInfo | undefined> => {
      try {
        const stats = await statfs(join(ctx.root, mount));
        const size = stats.blocks * stats.bsize;
        // Used as df counts it: what is not free (reserved blocks count as used).
        return {
          mount: clip(mount, LIMITS.text),
          fs: clip(fs),
          size_bytes: count(size),
          used_bytes: count(size - stats.bfree * stats.bsize),
        };
      } catch {
        return undefined; // gone, or not ours to read
      }
    }),
  );
  return disks.filter((disk): disk is DiskInfo => disk !== undefined && disk.size_bytes > 0);
}

/**
 * Local fixed volumes (DriveType 3) from Win32_Volume rather than Win32_LogicalDisk, which knows drive
 * letters only: a volume mounted in a folder ("D:\Mounts\Logs\") and a Cluster Shared Volume
 * ("C:\ClusterStorage\Volume1\", file system CSVFS) have no letter. Volumes with no mount point at all
 * (System Reserved, recovery: Name "\\?\Volume{...}\") are left out, as Explorer leaves them out.
 */
export const WINDOWS_DISKS_COMMAND =
  "ConvertTo-Json -Compress -InputObject @(Get-CimInstance Win32_Volume -Filter 'DriveType=3' | Where-Object { $_.Name -and $_.Name -notlike '\\\\?\\*' } | Select-Object Name,Label,FileSystem,Capacity,FreeSpace)";

export type WindowsDisk = DiskInfo & { available_bytes: number; label: string };

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
