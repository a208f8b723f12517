// An exclusive lock on a file that the kernel releases when its holder dies, however it dies (kill -9, a crash,
// a power cut, a zombie not yet reaped): flock(2) on Linux and macOS, a handle opened with share mode 0 on
// Windows. Nothing in the file decides who owns it, so a reused pid, another boot or a container restart
// never block a start. Both calls go through bun:ffi, which works inside a compiled executable too.
//
// The file is removed on release. A contender that locked a file its holder has just removed would hold a
// lock on nothing, so after flock it checks that the path still names the file it opened, else tries again.

import { dlopen, FFIType, ptr, read } from "bun:ffi";
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  openSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { errorCode } from "./errors.ts";

interface HeldLock {
  readonly path: string;
  /** Replaces the file's contents (who holds it, for people and error messages; never trusted). */
  describe(text: string): void;
  /** Removes the file and lets go. Idempotent. */
  release(): void;
}

/** Takes the lock on `path` (creating the file, mode 0600) or returns null at once if someone holds it. */
export function tryLock(path: string): HeldLock | null {
  return process.platform === "win32" ? tryLockWindows(path) : tryLockPosix(path);
}

/** Waits up to `timeoutMs` for the lock, polling; throws when it stays held. */
export function waitLock(path: string, timeoutMs: number, what = path): HeldLock {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = tryLock(path);
    if (held) return held;
    if (Date.now() >= deadline) throw new Error(`${what} stayed locked for ${timeoutMs / 1000} s`);
    Bun.sleepSync(5 + Math.floor(Math.random() * 20));
  }
}

// --- POSIX: flock(fd, LOCK_EX | LOCK_NB) ---

const LOCK_EX = 2;
const LOCK_NB = 4;

interface Libc {
  flock(fd: number, op: number): number;
  errno(): number;
  wouldBlock: number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  const darwin = process.platform === "darwin";
  const errnoSymbol = darwin ? "__error" : "__errno_location";
  const lib = dlopen(darwin ? "libSystem.B.dylib" : "libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    [errnoSymbol]: { args: [], returns: FFIType.ptr },
  });
  const errnoAt = lib.symbols[errnoSymbol] as () => number | null;
  libc = {
    flock: (fd, op) => lib.symbols.flock(fd, op) as number,
    errno: () => {
      const at = errnoAt();
      return at ? read.i32(at as never, 0) : 0;
    },
    // EWOULDBLOCK is EAGAIN: 11 on Linux, 35 on macOS.
    wouldBlock: darwin ? 35 : 11,
  };
  return libc;
}

function tryLockPosix(path: string): HeldLock | null {
  const c = loadLibc();
  for (let attempt = 0; attempt < 100; attempt++) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    if (c.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const errno = c.errno();
      closeSync(fd);
      if (errno === c.wouldBlock) return null;
      throw new Error(`cannot lock ${path}: flock failed with errno ${errno}`);
    }
    if (sameFile(fd, path)) return posixHeld(path, fd);
    // Locked a file its holder removed on the way out: try the one the path names now.
    closeSync(fd);
  }
  throw new Error(`cannot lock ${path}: it keeps being replaced`);
}

function sameFile(fd: number, path: string): boolean {
  try {
    const open = fstatSync(fd);
    const named = statSync(path);
    return open.ino === named.ino && open.dev === named.dev;
  } catch (error) {
    if (errorCode(error) === "ENOENT") return false;
    throw error;
  }
}

function posixHeld(path: string, fd: number): HeldLock {
  let open = true;
  return {
    path,
    describe(text) {
      ftruncateSync(fd, 0);
      writeSync(fd, text, 0);
    },
    release() {
      if (!open) return;
      open = false;
      // Removed while still held, so nobody can lock this file after we let go.
      try {
        unlinkSync(path);
      } catch {}
      closeSync(fd);
    },
  };
}

// --- Windows: CreateFileW with share mode 0 ---

const GENERIC_READ = 0x80000000;
const GENERIC_WRITE = 0x40000000;
const DELETE = 0x00010000;
const OPEN_ALWAYS = 4;
const FILE_ATTRIBUTE_NORMAL = 0x80;
// The file goes when the last handle closes, also when the process dies.
const FILE_FLAG_DELETE_ON_CLOSE = 0x04000000;
const ERROR_SHARING_VIOLATION = 32;
const ERROR_ACCESS_DENIED = 5;

interface Kernel32 {
  open(path: string): bigint;
  close(handle: bigint): void;
  lastError(): number;
}

let kernel32: Kernel32 | undefined;

function loadKernel32(): Kernel32 {
  if (kernel32) return kernel32;
  const lib = dlopen("kernel32.dll", {
    CreateFileW: {
      args: [FFIType.ptr, FFIType.u32, FFIType.u32, FFIType.ptr, FFIType.u32, FFIType.u32, FFIType.ptr],
      returns: FFIType.i64,
    },
    CloseHandle: { args: [FFIType.i64], returns: FFIType.i32 },
    GetLastError: { args: [], returns: FFIType.u32 },
  });
  kernel32 = {
    open(path) {
      const wide = Buffer.from(`${path}\0`, "utf16le");
      const handle = lib.symbols.CreateFileW(
        ptr(wide),
        GENERIC_READ | GENERIC_WRITE | DELETE,
        0,
        null,
        OPEN_ALWAYS,
        FILE_ATTRIBUTE_NORMAL | FILE_FLAG_DELETE_ON_CLOSE,
        null,
      );
      return BigInt(handle as number | bigint);
    },
    close: (handle) => void lib.symbols.CloseHandle(handle),
    lastError: () => lib.symbols.GetLastError() as number,
  };
  return kernel32;
}

function tryLockWindows(path: string): HeldLock | null {
  const k = loadKernel32();
  const handle = k.open(path);
  if (handle === -1n) {
    const error = k.lastError();
    // A file pending deletion (its holder just closed it) answers "access denied" for a moment.
    if (error === ERROR_SHARING_VIOLATION || error === ERROR_ACCESS_DENIED) return null;
    throw new Error(`cannot lock ${path}: CreateFileW failed with error ${error}`);
  }
  let open = true;
  return {
    path,
    // Nobody else can open the file while it is held, so there is no one to tell.
    describe() {},
    release() {
      if (!open) return;
      open = false;
      k.close(handle);
    },
  };
}
