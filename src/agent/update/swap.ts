// Putting a verified executable in place of the running one, and back. The new file is copied next to
// the executable first (same file system), then renamed over it: a rename is atomic and works on a running
// executable (Linux keeps the old inode; Windows lets a running .exe be renamed, not deleted), where
// writing into it would fail with ETXTBSY. The previous executable is kept as <exe>.previous.
import { chmodSync, copyFileSync, existsSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface Swapped {
  executable: string;
  previous: string;
}

export function previousPath(executable: string): string {
  return `${executable}.previous`;
}

export function swapIn(executable: string, verified: string): Swapped {
  const dir = dirname(executable);
  const staged = join(dir, `.${basename(executable)}.new`);
  const previous = previousPath(executable);
  copyFileSync(verified, staged);
  chmodSync(staged, 0o755);
  try {
    // A rename cannot replace an existing file on Windows: the old previous goes first.
    rmSync(previous, { force: true });
    renameSync(executable, previous);
  } catch (error) {
    rmSync(staged, { force: true });
    throw error;
  }
  try {
    renameSync(staged, executable);
  } catch (error) {
    renameSync(previous, executable);
    rmSync(staged, { force: true });
    throw error;
  }
  return { executable, previous };
}

/** The previous executable back in place; the failed one is moved aside to be deleted. */
export function rollBack(swapped: Swapped): void {
  if (!existsSync(swapped.previous)) throw new Error(`${swapped.previous} is gone: cannot roll back`);
  const failed = `${swapped.executable}.failed`;
  rmSync(failed, { force: true });
  if (existsSync(swapped.executable)) renameSync(swapped.executable, failed);
  renameSync(swapped.previous, swapped.executable);
  // On Windows the failed .exe may still be running for a moment: deleted at the next try or start.
  try {
    rmSync(failed, { force: true });
  } catch {}
}

/** What a swap or a rollback left behind that could not be deleted then (a running .exe on Windows). */
export function removeLeftovers(executable: string): void {
  for (const path of [`${executable}.failed`, join(dirname(executable), `.${basename(executable)}.new`)]) {
    try {
      rmSync(path, { force: true });
    } catch {}
  }
}
