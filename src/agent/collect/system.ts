// The machine itself: maker, model, serial number, SMBIOS UUID. Linux reads what the kernel exports from
// DMI (serial and UUID only root can read; the agent runs as root), or the device tree on ARM boards.
import type { SystemInfo } from "../../shared/report.ts";
import type { Context } from "./_context.ts";
import { readSource } from "./_files.ts";
import { clip } from "./_limits.ts";
import { asRecord, parsePowerShellJson, str } from "./_powershell.ts";

/** Placeholder strings firmware puts where a value was never filled in. */
const PLACEHOLDERS =
  /^(to be filled by o\.?e\.?m\.?|default string|system (product name|serial number|manufacturer)|not specified|none|0+|n\/a)$/i;

export const clean = (value: string | undefined) => {
  const text = (value ?? "").replace(/\0/g, "").trim();
  return PLACEHOLDERS.test(text) ? "" : text;
};

/** Without DMI (ARM boards, some VMs) the files do not exist, which is no error; unreadable ones are. */
export async function systemLinux(ctx: Context): Promise<SystemInfo> {
  const source = (...parts: string[]) => clean(readSource(ctx, parts, { optional: true }));
  const dmi = (file: string) => source("sys", "class", "dmi", "id", file);
  return {
    manufacturer: clip(dmi("sys_vendor")),
    model: clip(dmi("product_name") || source("proc", "device-tree", "model")),
    serial: clip(dmi("product_serial") || source("proc", "device-tree", "serial-number")),
    uuid: clip(dmi("product_uuid").toLowerCase()),
  };
}

/** Win32_ComputerSystemProduct: Vendor, Name (the model), IdentifyingNumber (the serial), UUID. */
export const WINDOWS_SYSTEM_COMMAND =
  "Get-CimInstance Win32_ComputerSystemProduct | Select-Object Vendor,Name,IdentifyingNumber,UUID | ConvertTo-Json -Compress";

export function parseWindowsSystem(text: string): SystemInfo {
  const record = asRecord(parsePowerShellJson(text));
  return {
    manufacturer: clip(clean(str(record.Vendor))),
    model: clip(clean(str(record.Name))),
    serial: clip(clean(str(record.IdentifyingNumber))),
    uuid: clip(clean(str(record.UUID)).toLowerCase()),
  };
}

export async function systemWindows(ctx: Context): Promise<SystemInfo> {
  return parseWindowsSystem(await ctx.powerShell(WINDOWS_SYSTEM_COMMAND));
}
