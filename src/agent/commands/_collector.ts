// The real collector for the commands. systeminformation is loaded only on Windows, where its persistent
// PowerShell session serves the collectors; on Linux everything is read from /proc and /sys in-process,
// and the module never enters memory.
import type { CollectOptions } from "../collect/index.ts";

export async function collectorOptions(
  platform: NodeJS.Platform,
  commandLines: boolean,
): Promise<CollectOptions> {
  const si =
    platform === "win32"
      ? ((await import("systeminformation")) as unknown as NonNullable<CollectOptions["si"]>)
      : undefined;
  return { platform, commandLines, si };
}
