// Block devices from a fake /sys/block and against lsblk here.
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { blockDevicesLinux, blockDeviceType } from "../../../src/agent/collect/block-devices.ts";
import { fakeContext, fakeRoot } from "./_root.ts";

const dev = (name: string, files: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(files).map(([file, value]) => [`sys/block/${name}/${file}`, `${value}\n`]),
  );

describe("blockDevicesLinux on a fake /sys/block", () => {
  const root = fakeRoot({
    ...dev("nvme0n1", {
      size: "1953525168",
      "device/model": "Samsung SSD 980 PRO 1TB                 ",
      "device/serial": "S5GXNX0T123456",
      "queue/rotational": "0",
      removable: "0",
    }),
    ...dev("sda", {
      size: "7814037168",
      "device/model": "WDC WD40EFRX",
      "device/vendor": "ATA",
      "queue/rotational": "1",
    }),
    ...dev("vda", { size: "2097152", serial: "virtio-serial-1", "queue/rotational": "1", removable: "0" }),
    ...dev("dm-0", { size: "2097152", "dm/name": "vg0-root" }),
    ...dev("sr0", { size: "0", removable: "1", "device/model": "QEMU DVD-ROM" }),
    ...dev("loop0", { size: "0" }),
    ...dev("loop1", { size: "131072" }),
    ...dev("zram0", { size: "0" }),
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test("lists each device with size, model, vendor, serial and flags; empty loop and zram devices out", async () => {
    expect(await blockDevicesLinux(fakeContext(root))).toEqual([
      {
        name: "vg0-root",
        type: "dm",
        size_bytes: 1073741824,
        model: "",
        vendor: "",
        serial: "",
        rotational: null,
        removable: null,
      },
      {
        name: "loop1",
        type: "loop",
        size_bytes: 67108864,
        model: "",
        vendor: "",
        serial: "",
        rotational: null,
        removable: null,
      },
      {
        name: "nvme0n1",
        type: "disk",
        size_bytes: 1000204886016,
        model: "Samsung SSD 980 PRO 1TB",
        vendor: "",
        serial: "S5GXNX0T123456",
        rotational: false,
        removable: false,
      },
      {
        name: "sda",
        type: "disk",
        size_bytes: 4000787030016,
        model: "WDC WD40EFRX",
        vendor: "ATA",
        serial: "",
        rotational: true,
        removable: null,
      },
      {
        name: "sr0",
        type: "rom",
        size_bytes: 0,
        model: "QEMU DVD-ROM",
        vendor: "",
        serial: "",
        rotational: null,
        removable: true,
      },
      {
        name: "vda",
        type: "disk",
        size_bytes: 1073741824,
        model: "",
        vendor: "",
        serial: "virtio-serial-1",
        rotational: true,
        removable: false,
      },
    ]);
  });

  for (const [name, type] of [
    ["sda", "disk"],
    ["mmcblk0", "mmc"],
    ["md127", "md"],
    ["nbd3", "nbd"],
    ["xvda", "disk"],
  ] as const) {
    test(`${name} is a ${type}`, () => expect(blockDeviceType(name)).toBe(type));
  }

  test("fails the collector when /sys/block is missing", async () => {
    const empty = fakeRoot({});
    await expect(blockDevicesLinux(fakeContext(empty))).rejects.toThrow(/ENOENT/);
    rmSync(empty, { recursive: true, force: true });
  });
});

const lsblk = Bun.which("lsblk");
describe.skipIf(process.platform !== "linux" || !lsblk)("blockDevicesLinux on this machine", () => {
  test("lists the whole devices lsblk does that hold something, with their sizes", async () => {
    const out = Bun.spawnSync([lsblk ?? "lsblk", "-b", "-J", "-d", "-o", "NAME,SIZE"]).stdout.toString();
    const truth = (JSON.parse(out).blockdevices as { name: string; size: number }[])
      .filter((device) => device.size > 0 || !/^(loop|ram|zram|nbd)\d/.test(device.name))
      .map((device) => `${device.name} ${device.size}`);
    const ours = (await blockDevicesLinux(fakeContext("/")))
      .filter((device) => device.type !== "dm")
      .map((device) => `${device.name} ${device.size_bytes}`);
    expect(ours.sort()).toEqual(truth.filter((line) => !line.startsWith("dm-")).sort());
  });
});
