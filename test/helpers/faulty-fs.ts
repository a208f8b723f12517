// A StoreFs that passes everything to the real file system and injects the faults a disk can throw at the
// store: a full disk (a byte budget: a write that does not fit writes what fits, then fails with ENOSPC, as
// write(2) does), a failing fsync (EIO), a directory that cannot be written (EACCES/EROFS from the probe),
// and one-shot faults aimed at the journal or the day files by path.
import { basename } from "node:path";
import { nodeStoreFs, type StoreFs } from "../../src/server/store/fs.ts";

export function fsError(code: string, syscall: string, path = ""): NodeJS.ErrnoException {
  const text: Record<string, string> = {
    ENOSPC: "no space left on device",
    EIO: "i/o error",
    EACCES: "permission denied",
    EROFS: "read-only file system",
  };
  return Object.assign(new Error(`${code}: ${text[code] ?? "error"}, ${syscall} '${path}'`), {
    code,
    syscall,
    path,
  });
}

/** Which file a fault is aimed at: the journal, the day files, or any file. */
export type Target = "journal" | "day" | "any";

export interface WriteFault {
  target: Target;
  /** Bytes of the write that reach the file before the error (clamped to the write's length - 1). */
  partial: number;
  code: string;
  /** How many writes fail this way before the fault clears itself (default 1). */
  times?: number;
}

export class FaultyFs implements StoreFs {
  private readonly paths = new Map<number, string>();
  /** Bytes the files written through this layer may still grow by; null: unlimited. */
  freeBytes: number | null = null;
  /** Every journal fsync fails with this code while set. */
  syncFault: { target: Target; code: string; times: number } | null = null;
  /** probeWritable (and every create) throws this code while set. */
  unwritable: string | null = null;
  writeFault: WriteFault | null = null;
  /** Counters, for the test's figures. */
  readonly counts = { writes: 0, syncs: 0, injected: 0 };

  constructor(private readonly inner: StoreFs = nodeStoreFs) {}

  private matches(target: Target, path: string): boolean {
    if (target === "any") return true;
    const journal = path.endsWith(".wal");
    return target === "journal" ? journal : !journal && basename(path).endsWith(".json");
  }

  open(path: string, create: boolean): number {
    if (this.unwritable && create && !this.inner.exists(path)) throw fsError(this.unwritable, "open", path);
    const fd = this.inner.open(path, create);
    this.paths.set(fd, path);
    return fd;
  }
  openRead(path: string): number {
    const fd = this.inner.openRead(path);
    this.paths.set(fd, path);
    return fd;
  }
  write(fd: number, data: Uint8Array, position: number): void {
    this.counts.writes++;
    const path = this.paths.get(fd) ?? "";
    if (this.unwritable) throw fsError(this.unwritable, "write", path);
    const fault = this.writeFault;
    if (fault && this.matches(fault.target, path) && data.length > 0) {
      const times = (fault.times ?? 1) - 1;
      this.writeFault = times > 0 ? { ...fault, times } : null;
      this.counts.injected++;
      const part = Math.max(0, Math.min(fault.partial, data.length - 1));
      if (part) this.inner.write(fd, data.subarray(0, part), position);
      throw fsError(fault.code, "write", path);
    }
    if (this.freeBytes !== null) {
      const grows = Math.max(0, position + data.length - this.inner.size(fd));
      if (grows > this.freeBytes) {
        // What fits is written (a short write), then the next write(2) fails.
        const fits = Math.max(0, this.inner.size(fd) + this.freeBytes - position);
        const part = Math.min(fits, data.length - 1);
        if (part > 0) this.write(fd, data.subarray(0, part), position);
        this.counts.injected++;
        throw fsError("ENOSPC", "write", path);
      }
      this.freeBytes -= grows;
    }
    this.inner.write(fd, data, position);
  }
  read(fd: number, into: Uint8Array, position: number): number {
    return this.inner.read(fd, into, position);
  }
  size(fd: number): number {
    return this.inner.size(fd);
  }
  truncate(fd: number, length: number): void {
    if (this.freeBytes !== null) this.freeBytes += Math.max(0, this.inner.size(fd) - length);
    this.inner.truncate(fd, length);
  }
  async sync(fd: number): Promise<void> {
    this.syncFaultFor(fd);
    return this.inner.sync(fd);
  }
  private syncFaultFor(fd: number): void {
    this.counts.syncs++;
    const path = this.paths.get(fd) ?? "";
    const fault = this.syncFault;
    if (fault && this.matches(fault.target, path)) {
      if (--fault.times <= 0) this.syncFault = null;
      this.counts.injected++;
      throw fsError(fault.code, "fdatasync", path);
    }
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }
  close(fd: number): void {
    this.paths.delete(fd);
    this.inner.close(fd);
  }
  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  rename(from: string, to: string): void {
    if (this.unwritable) throw fsError(this.unwritable, "rename", from);
    this.inner.rename(from, to);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  mkdir(dir: string): void {
    if (this.unwritable && !this.inner.exists(dir)) throw fsError(this.unwritable, "mkdir", dir);
    this.inner.mkdir(dir);
  }
  probeWritable(dir: string): void {
    if (this.unwritable) throw fsError(this.unwritable, "access", dir);
    this.inner.probeWritable(dir);
  }
}
