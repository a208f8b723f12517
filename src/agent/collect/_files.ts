// Reading the small text files Linux exposes (/proc, /sys, /etc) under a root the caller chooses.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "./_context.ts";

/** The file's text, or undefined when it does not exist or cannot be read (a process that just exited). */
export function readText(root: string, ...parts: string[]): string | undefined {
  try {
    return readFileSync(join(root, ...parts), "utf8");
  } catch {
    return undefined;
  }
}

/** "/proc/stat: EACCES: permission denied": the path as on the host (not under a test root) and why. */
export function readFailure(parts: readonly string[], error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${join("/", ...parts)}: ${message.split(",")[0]}`;
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";

/**
 * A source file's text, or undefined when it cannot be read: then `ctx.partial` hears which file and why,
 * unless the file does not exist and `optional` says that is normal (DMI on an ARM board).
 */
export function readSource(
  ctx: Pick<Context, "root" | "partial">,
  parts: readonly string[],
  { optional = false }: { optional?: boolean } = {},
): string | undefined {
  try {
    return readFileSync(join(ctx.root, ...parts), "utf8");
  } catch (error) {
    if (!(optional && isMissing(error))) ctx.partial(readFailure(parts, error));
    return undefined;
  }
}

/** Like readSource, but a missing file is told apart from an unreadable one (fallbacks try the next). */
export function readFirst(
  ctx: Pick<Context, "root" | "partial">,
  candidates: readonly (readonly string[])[],
): string | undefined {
  const missing: string[] = [];
  for (const parts of candidates) {
    try {
      return readFileSync(join(ctx.root, ...parts), "utf8");
    } catch (error) {
      // Only a file that does not exist hands over to the next: an unreadable one is not skipped silently.
      if (!isMissing(error)) {
        ctx.partial(readFailure(parts, error));
        return undefined;
      }
      missing.push(join("/", ...parts));
    }
  }
  ctx.partial(`none of ${missing.join(", ")} exists`);
  return undefined;
}

/** `KEY=value` lines (os-release, logind session files), quotes removed. */
export function parseKeyValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match?.[1]) continue;
    let value = (match[2] ?? "").trim();
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["'\\$`])/g, "$1");
    values.set(match[1], value);
  }
  return values;
}

/** `Key:   value unit` lines (/proc/meminfo, /proc/cpuinfo blocks). */
export function parseColonValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) values.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return values;
}
