// What a long-running agent gives back between reports (Linux).
//
// Most of a compiled agent's RSS is not its own data but pages of its executable (the Bun runtime) that it
// has touched: about 42 MB of 55 at 1,600 processes, against 10 MB of heap. Those text pages are clean
// and shared with the page cache; the kernel only drops them from the process under memory pressure, so
// `top` counts them as the agent's. After each report the agent tells the kernel it does not need them
// (madvise MADV_DONTNEED over its own read-only executable mappings): the page-cache copy stays, the next
// report maps what it uses again with minor faults (no disk read). Writable and read-only-after-relocation
// mappings are never touched: dropping those would lose their contents.
import { readFileSync } from "node:fs";

/** MADV_DONTNEED, the same number on every Linux architecture Bun runs on. */
const MADV_DONTNEED = 4;

interface Mapping {
  start: number;
  end: number;
}

/**
 * The executable (`r-xp`) mappings of `path` in /proc/self/maps text: code only, never data, never the
 * RELRO part (read-only but written by the loader), never anonymous JIT code.
 */
export function executableMappings(maps: string, path: string): Mapping[] {
  const found: Mapping[] = [];
  for (const line of maps.split("\n")) {
    const [range, perms, , , , ...rest] = line.split(/\s+/);
    if (perms !== "r-xp" || rest.join(" ") !== path || !range) continue;
    const [start, end] = range.split("-").map((hex) => Number.parseInt(hex, 16));
    if (start !== undefined && end !== undefined && end > start) found.push({ start, end });
  }
  return found;
}

type Madvise = (address: number, length: number, advice: number) => number;

let madvise: Madvise | null | undefined;

async function loadMadvise(): Promise<Madvise | null> {
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const libc = dlopen("libc.so.6", {
      madvise: { args: [FFIType.u64, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
    });
    return (address, length, advice) => libc.symbols.madvise(address, length, advice);
  } catch {
    // Not glibc, or FFI not available: keep the pages, lose nothing but memory.
    return null;
  }
}

/**
 * Drops the touched pages of this executable's code from the process (they stay in the page cache).
 * Returns the bytes of mappings advised, 0 where this cannot be done (not Linux, no libc, not compiled).
 */
export async function releaseExecutablePages(executable = process.execPath): Promise<number> {
  if (process.platform !== "linux") return 0;
  madvise ??= await loadMadvise();
  if (!madvise) return 0;
  let advised = 0;
  try {
    for (const { start, end } of executableMappings(readFileSync("/proc/self/maps", "utf8"), executable)) {
      if (madvise(start, end - start, MADV_DONTNEED) === 0) advised += end - start;
    }
  } catch {
    return advised;
  }
  return advised;
}

/**
 * After each report of `run`: a full garbage collection (the report, its JSON and gzip buffers are garbage
 * by then; without it JSC keeps about 3 MB more heap until its next eden cycle), then the code pages.
 */
export async function releaseMemory(): Promise<void> {
  Bun.gc(true);
  await releaseExecutablePages();
}
