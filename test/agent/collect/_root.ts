// A fake filesystem root (the collectors read /proc, /sys, /etc under `root`) and a Context around it.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import * as nodeOs from "node:os";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Context, NodeOs } from "../../../src/agent/collect/_context.ts";

/** Writes `files` (path → content) under a new temporary root. */
export function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "relevo-root-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** A Context on `root`; notes (partial failures) land in `notes`. */
export function fakeContext(root: string, os: Partial<NodeOs> = {}, notes: string[] = []): Context {
  return {
    root,
    os: { ...nodeOs, networkInterfaces: () => ({}), ...os },
    powerShell: async () => "",
    now: () => new Date(),
    monotonic: () => performance.now(),
    commandLines: true,
    previous: undefined,
    next: { at: 0 },
    partial: (message) => notes.push(message),
  };
}
