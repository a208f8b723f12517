// User names the way the C library finds them (Linux). nsswitch.conf's passwd line lists the sources; the
// ones that are plain files (files, compat, extrausers) are read here, in-process, which costs a parse per
// report. Any other source (sss, ldap, winbind, systemd, nis...) has a module of its own that only the C
// library knows how to drive: for the uids the files did not name, the agent calls getpwuid_r through
// bun:ffi, in-process as ps does, loaded only on hosts that have such a source and only when some uid is
// left over. That call blocks the agent while the module answers (sssd from its memory cache, nslcd under
// its own timeouts), as it blocks ps; it is made at most once per uid per report, for at most 256 uids.
import { CString, dlopen, FFIType, type Pointer } from "bun:ffi";
import type { Context } from "./_context.ts";
import { readSource } from "./_files.ts";

/** Sources of nsswitch.conf's passwd line, actions left out; glibc's default is "files". */
export function passwdSources(nsswitch: string | undefined): string[] {
  const line = /^\s*passwd:(.*)$/m.exec(nsswitch ?? "")?.[1];
  if (line === undefined) return ["files"];
  return (line.split("#")[0] ?? "")
    .replace(/\[[^\]]*\]/g, " ")
    .trim()
    .split(/\s+/)
    .filter(Boolean);
}

/** The passwd-format file each file source reads. */
const FILE_SOURCES: Record<string, string[]> = {
  files: ["etc", "passwd"],
  compat: ["etc", "passwd"],
  extrausers: ["var", "lib", "extrausers", "passwd"],
};

/** uid → name from passwd-format text; compat's +/- lines are not names. */
export function parsePasswd(text: string, into = new Map<number, string>()): Map<number, string> {
  for (const line of text.split("\n")) {
    const [name, , uid] = line.split(":");
    if (!name || !uid || name.startsWith("+") || name.startsWith("-")) continue;
    const id = Number(uid);
    if (Number.isSafeInteger(id) && !into.has(id)) into.set(id, name);
  }
  return into;
}

interface UserNames {
  /** The name of each uid found in the file sources. */
  files: Map<number, string>;
  /** Names for uids the files did not have, from the C library; undefined where no other source is listed. */
  library: ((uids: number[]) => Map<number, string>) | undefined;
}

const LIBRARY_LOOKUPS = 256;

/** Reads the file sources under ctx.root; the C library is asked only on the real system (root "/"). */
export function userNames(ctx: Pick<Context, "root" | "partial">): UserNames {
  const sources = passwdSources(readSource(ctx, ["etc", "nsswitch.conf"], { optional: true }));
  const files = new Map<number, string>();
  let other = false;
  for (const source of sources) {
    const parts = FILE_SOURCES[source];
    if (!parts) {
      other = true;
      continue;
    }
    // extrausers' file may well be absent; /etc/passwd should not be.
    const text = readSource(ctx, parts, { optional: source === "extrausers" });
    if (text !== undefined) parsePasswd(text, files);
  }
  const library =
    other && ctx.root === "/" && process.platform === "linux"
      ? (uids: number[]) => libraryNames(uids.slice(0, LIBRARY_LOOKUPS), ctx.partial)
      : undefined;
  return { files, library };
}

type GetPwUid = (uid: number, pwd: Uint8Array, buf: Uint8Array, size: number, result: Uint8Array) => number;
/** getpwuid_r, opened on first use (0.5 ms, ~3 MB); null where there is no glibc to open. */
let getpwuid: GetPwUid | null | undefined;

function openLibrary(): GetPwUid | null {
  try {
    const { symbols } = dlopen("libc.so.6", {
      getpwuid_r: {
        args: [FFIType.u32, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr],
        returns: FFIType.i32,
      },
    });
    return (uid, pwd, buf, size, result) => symbols.getpwuid_r(uid, pwd, buf, size, result) as number;
  } catch {
    return null;
  }
}

/** getpwuid_r for each uid: struct passwd's first field is pw_name (64-bit Linux). */
export function libraryNames(
  uids: readonly number[],
  partial: (message: string) => void,
): Map<number, string> {
  const names = new Map<number, string>();
  if (uids.length === 0) return names;
  getpwuid ??= openLibrary();
  const call = getpwuid;
  if (!call) {
    partial("user names: the C library could not be opened for NSS lookups");
    return names;
  }
  const pwd = new Uint8Array(48);
  const result = new BigUint64Array(1);
  const out = new Uint8Array(result.buffer);
  let buf = new Uint8Array(16 * 1024);
  for (const uid of uids) {
    let code = call(uid, pwd, buf, buf.byteLength, out);
    if (code === 34 && buf.byteLength < 1024 * 1024) {
      buf = new Uint8Array(1024 * 1024); // ERANGE: a record with many or long fields
      code = call(uid, pwd, buf, buf.byteLength, out);
    }
    if (code !== 0 || result[0] === 0n) continue; // not found (or the module failed): the number it is
    const pointer = Number(new DataView(pwd.buffer).getBigUint64(0, true));
    if (pointer) names.set(uid, new CString(pointer as unknown as Pointer).toString());
  }
  return names;
}
