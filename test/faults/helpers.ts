// Shared checks for the fault tests: what a data directory holds, read straight from disk.
import { expect } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const DAY_FILE = /^.+_\d{4}-\d{2}-\d{2}\.json$/;

export interface DirCheck {
  /** Day file name -> report ids in it, in order. */
  files: Map<string, string[]>;
  /** Every id with how many times it is stored, over all day files. */
  counts: Map<string, number>;
  /** Day files that JSON.parse refused, with the error. */
  broken: string[];
}

/** Parses every day file of `dir` with JSON.parse and counts the report ids. */
export function checkDir(dir: string): DirCheck {
  const files = new Map<string, string[]>();
  const counts = new Map<string, number>();
  const broken: string[] = [];
  if (!existsSync(dir)) return { files, counts, broken };
  for (const name of readdirSync(dir).sort()) {
    if (!DAY_FILE.test(name)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(join(dir, name), "utf8"));
    } catch (error) {
      broken.push(`${name}: ${(error as Error).message}`);
      continue;
    }
    if (!Array.isArray(parsed)) {
      broken.push(`${name}: not an array`);
      continue;
    }
    const ids = parsed.map((element) => String((element as { report_id?: unknown }).report_id));
    files.set(name, ids);
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return { files, counts, broken };
}

/** Acknowledged ids that are missing, and ids stored more than once. */
export function lostAndDoubled(
  check: DirCheck,
  acked: Iterable<string>,
): { lost: string[]; doubled: string[] } {
  const lost = [...acked].filter((id) => !check.counts.has(id));
  const doubled = [...check.counts].filter(([, n]) => n > 1).map(([id]) => id);
  return { lost, doubled };
}

/** Everything acknowledged is stored exactly once and every day file parses. */
export function expectIntact(dir: string, acked: Iterable<string>): DirCheck & { lost: number } {
  const check = checkDir(dir);
  expect(check.broken).toEqual([]);
  const { lost, doubled } = lostAndDoubled(check, acked);
  expect(lost).toEqual([]);
  expect(doubled).toEqual([]);
  return { ...check, lost: lost.length };
}

/** A seeded PRNG (mulberry32), so every random choice of a fault test can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
