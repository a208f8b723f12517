// Block devices (Linux): every whole device in /sys/block with its size and, where the driver says, model,
// vendor and serial. Partitions are not listed (their file systems are in `disks`); loop, RAM, zram and nbd
// devices with nothing attached (size 0) are left out, an empty CD drive is not.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { BlockDevice } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readText } from "./_files.ts";
import { clip, count } from "./_limits.ts";

/** The kind of device, from its kernel name. */
export function blockDeviceType(name: string): string {
  const kinds: [RegExp, string][] = [
    [/^loop\d/, "loop"],
    [/^dm-\d/, "dm"],
    [/^md\d/, "md"],
    [/^sr\d/, "rom"],
    [/^zram\d/, "zram"],
    [/^nbd\d/, "nbd"],
    [/^ram\d/, "ram"],
    [/^mmcblk\d/, "mmc"],
  ];
  return kinds.find(([pattern]) => pattern.test(name))?.[1] ?? "disk";
}

/** Devices the kernel creates in advance, empty until something is attached. */
const UNATTACHED = new Set(["loop", "ram", "zram", "nbd"]);

export async function blockDevicesLinux(ctx: Context): Promise<BlockDevice[]> {
  const names = readdirSync(join(ctx.root, "sys", "block")).sort();
  const devices: BlockDevice[] = [];
  for (const name of names) {
    const read = (...parts: string[]) => readText(ctx.root, "sys", "block", name, ...parts)?.trim();
    // /sys/block/X/size counts 512-byte sectors whatever the device's own sector size.
    const size = count(Number(read("size") ?? 0) * 512);
    const type = blockDeviceType(name);
    if (size === 0 && UNATTACHED.has(type)) continue;
    const flag = (value: string | undefined) => (value === undefined ? null : value === "1");
    devices.push({
      // A device-mapper device is known by its mapped name (vg-root, luks-…), not dm-0.
      name: clip(type === "dm" ? (read("dm", "name") ?? name) : name),
      type,
      size_bytes: size,
      model: clip(read("device", "model") ?? ""),
      vendor: clip(read("device", "vendor") ?? ""),
      // NVMe and SCSI through the device, virtio on the disk itself.
      serial: clip(read("device", "serial") ?? read("serial") ?? ""),
      rotational: flag(read("queue", "rotational")),
      removable: flag(read("removable")),
    });
    if (devices.length >= LIMITS.blockDevices) break;
  }
  return devices;
}
