// Reading the small text files Linux exposes (/proc, /sys, /etc) under a root the caller chooses.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The file's text, or undefined when it does not exist or cannot be read (a process that just exited). */
export function readText(root: string, ...parts: string[]): string | undefined {
  try {
    return readFileSync(join(root, ...parts), "utf8");
  } catch {
    return undefined;
  }
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
