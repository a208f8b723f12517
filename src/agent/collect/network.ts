// Network interfaces with their MAC and addresses, from node:os on every platform: the same call works on
// Linux and Windows (GetAdaptersAddresses underneath), costs no child process, and needs no parsing.
import type { NetworkInterface } from "../../shared/report.ts";
import { LIMITS } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { clip } from "./_limits.ts";

export async function network(ctx: Context): Promise<NetworkInterface[]> {
  return Object.entries(ctx.os.networkInterfaces())
    .slice(0, LIMITS.interfaces)
    .map(([name, addresses = []]) => {
      const mac =
        addresses.find((address) => address.mac !== "00:00:00:00:00:00")?.mac ?? addresses[0]?.mac ?? "";
      const list = (family: string) =>
        addresses
          .filter((address) => address.family === family)
          .map((address) => clip(address.address, 64))
          .slice(0, LIMITS.addresses);
      return { name: clip(name), mac: clip(mac, 64), ipv4: list("IPv4"), ipv6: list("IPv6") };
    });
}
