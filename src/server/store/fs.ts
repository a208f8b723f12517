// The few file operations the store needs, behind one interface: the real one below, and in tests a layer
// that injects ENOSPC/EIO or records writes and fsyncs to simulate power loss.
import * as fs from "node:fs";

export interface StoreFs {
  /** Opens for reading and writing, creating the file when `create` is set. */
  open(path: string, create: boolean): number;
  openRead(path: string): number;
  /** Writes all of `data` at `position` (null: at the end, for files opened for append). */
  write(fd: number, data: Uint8Array, position: number): void;
  read(fd: number, into: Uint8Array, position: number): number;
  size(fd: number): number;
  truncate(fd: number, length: number): void;
  /** Flushes the file's data (and its size) to stable storage. */
  sync(fd: number): Promise<void>;
  /** Makes new names and removals in `dir` durable; a no-op where directories cannot be synced. */
  syncDir(dir: string): Promise<void>;
  close(fd: number): void;
  readdir(dir: string): string[];
  /** Async: removing a 64 MiB journal segment frees blocks, which takes a while. */
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): void;
  exists(path: string): boolean;
  /** Creates `dir` (and missing parents) readable by the owner only. */
  mkdir(dir: string): void;
  /** Takes group and other access away from an existing directory (reports name hosts and users). */
  restrict?(dir: string): void;
  /** Throws unless a file can be created in `dir` now (EACCES, EROFS, ENOSPC...). */
  probeWritable(dir: string): void;
}

export const nodeStoreFs: StoreFs = {
  open: (path, create) =>
    fs.openSync(path, create ? fs.constants.O_RDWR | fs.constants.O_CREAT : "r+", 0o640),
  openRead: (path) => fs.openSync(path, "r"),
  write(fd, data, position) {
    let done = 0;
    while (done < data.length) {
      const n = fs.writeSync(fd, data, done, data.length - done, position + done);
      if (n <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
      done += n;
    }
  },
  read: (fd, into, position) => fs.readSync(fd, into, 0, into.length, position),
  size: (fd) => fs.fstatSync(fd).size,
  truncate: (fd, length) => fs.ftruncateSync(fd, length),
  sync: (fd) =>
    new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve()))),
  async syncDir(dir) {
    // Windows cannot open a directory for fsync; NTFS journals its metadata itself.
    if (process.platform === "win32") return;
    const fd = fs.openSync(dir, "r");
    try {
      await new Promise<void>((resolve, reject) =>
        fs.fsync(fd, (error) => (error ? reject(error) : resolve())),
      );
    } finally {
      fs.closeSync(fd);
    }
  },
  close: (fd) => fs.closeSync(fd),
  readdir: (dir) => fs.readdirSync(dir),
  unlink: (path) => fs.promises.unlink(path),
  rename: (from, to) => fs.renameSync(from, to),
  exists: (path) => fs.existsSync(path),
  mkdir: (dir) => fs.mkdirSync(dir, { recursive: true, mode: 0o700 }),
  restrict(dir) {
    if (process.platform !== "win32" && (fs.statSync(dir).mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
  },
  probeWritable(dir) {
    fs.accessSync(dir, fs.constants.W_OK);
  },
};
