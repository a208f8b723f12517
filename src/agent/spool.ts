// The on-disk spool: reports (and batches of log entries, from `relevo-agent log`) the server did not take
// yet, one file each, sent oldest first.
//
// - Bounded by count and by bytes; when full, the oldest entries go, and the log says exactly how many.
// - Each entry is written whole or not at all: temp file, fsync, rename, fsync of the directory. A crash at
//   any point leaves either no entry or a complete one (plus a temp file, removed at the next open).
// - Each entry starts with a header line `relevo-spool 1 <sha256 hex> <length> <report_id>` followed by the
//   gzip-compressed JSON exactly as it goes on the wire. A log batch (for POST /logs, not /upload) says so
//   with ` logs` at the end of that line; its id is the batch's first entry_id. An entry that fails the check is moved to
//   `corrupt/`, counted and logged; it never blocks the queue.
// - Names sort by time (`<ms since epoch, 15 digits>-<sequence>-<report_id>.report`), never going backwards
//   even if the clock does, so a directory listing is the queue.
// - The directory is locked (see lock.ts): one agent per spool. `relevo-agent log` run while an agent holds
//   the lock hands its batch over instead: written whole into `incoming/`, adopted by the lock holder.
import { mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { errorCode, errorMessage } from "../shared/errors.ts";
import type { AgentLog } from "./_log.ts";
import { type LockOwner, lockSpool, type SpoolLock } from "./lock.ts";

export const ENTRY_SUFFIX = ".report";
export const TEMP_SUFFIX = ".tmp";
export const CORRUPT_DIR = "corrupt";
export const INCOMING_DIR = "incoming";
/** What an entry holds: a report for /upload, or a batch of log entries for /logs. */
export type SpoolKind = "report" | "logs";
const MAGIC = "relevo-spool 1";
/** Corrupt entries kept for a post-mortem; older ones are deleted. */
const MAX_CORRUPT_KEPT = 100;

/** Bun's own hasher: node:crypto would keep about 6 MB more of the runtime resident in a running agent. */
const sha256 = (data: Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest("hex");

export interface SpoolOptions {
  dir: string;
  maxReports: number;
  maxBytes: number;
  now: () => number;
  log: AgentLog;
}

export interface SpoolEntry {
  name: string;
  /** Size on disk, header included. */
  bytes: number;
}

export interface SpooledReport {
  entry: SpoolEntry;
  reportId: string;
  kind: SpoolKind;
  /** The gzip-compressed JSON report (or list of log entries). */
  payload: Uint8Array;
}

export interface AddResult {
  stored: boolean;
  /** Older entries removed to make room (exact). */
  dropped: number;
}

/** Serializes one entry: header line, then the payload. */
export function encodeEntry(reportId: string, payload: Uint8Array, kind: SpoolKind = "report"): Uint8Array {
  const sum = sha256(payload);
  const tail = kind === "logs" ? " logs" : "";
  const header = new TextEncoder().encode(`${MAGIC} ${sum} ${payload.byteLength} ${reportId}${tail}\n`);
  const out = new Uint8Array(header.byteLength + payload.byteLength);
  out.set(header, 0);
  out.set(payload, header.byteLength);
  return out;
}

/** Parses and checks one entry; a string says why it is corrupt. */
export function decodeEntry(
  bytes: Uint8Array,
): { reportId: string; kind: SpoolKind; payload: Uint8Array } | string {
  const newline = bytes.subarray(0, 512).indexOf(0x0a);
  if (newline < 0) return "no header line";
  const header = new TextDecoder().decode(bytes.subarray(0, newline));
  const match = /^relevo-spool 1 ([0-9a-f]{64}) (\d+) ([A-Za-z0-9_-]{1,64})( logs)?$/.exec(header);
  if (!match) return "bad header";
  const [, sum, length, reportId, logs] = match as unknown as [string, string, string, string, string?];
  const payload = bytes.subarray(newline + 1);
  if (payload.byteLength !== Number(length)) {
    return `length ${payload.byteLength}, header says ${length}`;
  }
  if (sha256(payload) !== sum) return "checksum mismatch";
  return { reportId, kind: logs ? "logs" : "report", payload };
}

export class Spool {
  /** Entries, oldest first. */
  private entries: SpoolEntry[] = [];
  private total = 0;
  private lastStamp = 0;
  private sequence = 0;
  /** Entries set aside as corrupt since this spool was opened. */
  corrupt = 0;
  /** Entries dropped for space since this spool was opened. */
  dropped = 0;

  private constructor(
    readonly options: SpoolOptions,
    private readonly lock: SpoolLock,
  ) {}

  /** Creates the directory if needed, takes its lock, clears leftovers of a crash and indexes the entries. */
  static async open(options: SpoolOptions): Promise<Spool> {
    const { dir, log } = options;
    try {
      // Reports name hosts, users and command lines: for this user only.
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new Error(`cannot create the spool directory ${dir}: ${errorMessage(error)}`);
    }
    const lock = await lockSpool(dir, options.now, (owner?: LockOwner) =>
      log.warn(
        `spool ${dir}: taking over the lock of ${owner ? `pid ${owner.pid}, which is no longer running` : "an unreadable lock file"}`,
      ),
    );
    const spool = new Spool(options, lock);
    try {
      await spool.index();
      await spool.adoptIncoming();
    } catch (error) {
      await lock.release();
      throw error;
    }
    return spool;
  }

  private async index(): Promise<void> {
    const { dir, log } = this.options;
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      if (name.endsWith(ENTRY_SUFFIX + TEMP_SUFFIX)) {
        // A write cut short by a crash: never renamed, so never part of the queue.
        await unlink(join(dir, name)).catch(() => {});
        log.debug(`spool: removed the unfinished ${name}`);
        continue;
      }
      if (!name.endsWith(ENTRY_SUFFIX)) continue;
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (!info?.isFile()) continue;
      this.entries.push({ name, bytes: info.size });
      this.total += info.size;
    }
    const newest = this.entries.at(-1);
    if (newest) this.lastStamp = Number(newest.name.slice(0, 15)) || 0;
    if (this.entries.length) {
      log.info(`spool ${dir}: ${this.entries.length} reports waiting (${formatBytes(this.total)})`);
    }
  }

  get size(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.total;
  }

  /** The entries, oldest first (a copy). */
  list(): SpoolEntry[] {
    return [...this.entries];
  }

  /**
   * Writes one report, after removing as many of the oldest entries as needed to stay within the bounds.
   * Throws only when the write itself fails (disk full, permissions).
   */
  async add(reportId: string, payload: Uint8Array, kind: SpoolKind = "report"): Promise<AddResult> {
    const { dir, log, maxReports, maxBytes } = this.options;
    const data = encodeEntry(safeId(reportId), payload, kind);
    if (data.byteLength > maxBytes) {
      this.dropped++;
      log.error(
        `spool: report ${reportId} (${formatBytes(data.byteLength)}) is larger than the whole spool (${formatBytes(maxBytes)}); dropped 1 report`,
      );
      return { stored: false, dropped: 1 };
    }
    let dropped = 0;
    let first: string | undefined;
    let last: string | undefined;
    while (
      this.entries.length > 0 &&
      (this.entries.length + 1 > maxReports || this.total + data.byteLength > maxBytes)
    ) {
      const oldest = this.entries[0] as SpoolEntry;
      await this.delete(oldest);
      first ??= oldest.name;
      last = oldest.name;
      dropped++;
    }
    if (dropped) {
      this.dropped += dropped;
      log.warn(
        `spool full (at most ${maxReports} reports, ${formatBytes(maxBytes)}): dropped the ${dropped} oldest ` +
          `report${dropped === 1 ? "" : "s"} (spooled ${stampOf(first)} to ${stampOf(last)}); ${this.dropped} dropped since start`,
      );
    }
    const name = this.nextName(reportId);
    await writeAtomically(dir, name, data);
    const entry = { name, bytes: data.byteLength };
    this.entries.push(entry);
    this.total += entry.bytes;
    return { stored: true, dropped };
  }

  /**
   * The oldest entry that passes its check, read whole; corrupt ones on the way are set aside. Undefined when
   * the spool is empty.
   */
  async next(): Promise<SpooledReport | undefined> {
    for (;;) {
      const entry = this.entries[0];
      if (!entry) return undefined;
      let bytes: Uint8Array;
      try {
        bytes = await readFile(join(this.options.dir, entry.name));
      } catch (error) {
        if (errorCode(error) === "ENOENT") {
          // Removed behind our back (an admin cleaning up): forget it.
          this.forget(entry);
          continue;
        }
        await this.setAside(entry, `unreadable: ${errorMessage(error)}`);
        continue;
      }
      const decoded = decodeEntry(bytes);
      if (typeof decoded === "string") {
        await this.setAside(entry, decoded);
        continue;
      }
      return { entry, reportId: decoded.reportId, kind: decoded.kind, payload: decoded.payload };
    }
  }

  /**
   * Removes an entry once the server has it (or has refused it for good). Never throws: an entry that cannot
   * be deleted leaves the queue anyway (the next start sends it again, and the server's report_id dedup keeps
   * one copy), so a read-only spool cannot make the agent send the same report in a loop.
   */
  async remove(entry: SpoolEntry): Promise<void> {
    try {
      await this.delete(entry);
      await syncDir(this.options.dir);
    } catch (error) {
      this.forget(entry);
      this.options.log.error(`spool: cannot remove the delivered ${entry.name}: ${errorMessage(error)}`);
    }
  }

  /**
   * Takes into the queue the batches `handOff` left in incoming/ (oldest first), each added, then removed
   * there: a crash between the two sends it twice, which its entry_ids make harmless. Never throws.
   */
  async adoptIncoming(): Promise<number> {
    const { dir, log } = this.options;
    const incoming = join(dir, INCOMING_DIR);
    let names: string[];
    try {
      names = (await readdir(incoming)).sort();
    } catch {
      return 0;
    }
    let adopted = 0;
    for (const name of names) {
      const path = join(incoming, name);
      // Dot files are hand-overs still being written (or cut short by a crash: removed after a day).
      if (name.startsWith(".")) {
        const info = await stat(path).catch(() => undefined);
        if (info && this.options.now() - info.mtimeMs > 86_400_000) await unlink(path).catch(() => {});
        continue;
      }
      if (!name.endsWith(ENTRY_SUFFIX)) continue;
      try {
        const decoded = decodeEntry(await readFile(path));
        if (typeof decoded === "string")
          log.warn(`spool: handed-over ${name} is corrupt (${decoded}); removed`);
        else {
          await this.add(decoded.reportId, decoded.payload, decoded.kind);
          adopted++;
        }
        await unlink(path);
      } catch (error) {
        log.error(`spool: cannot take over the handed-over ${name}: ${errorMessage(error)}`);
        break;
      }
    }
    if (adopted) log.debug(`spool: took over ${adopted} handed-over entr${adopted === 1 ? "y" : "ies"}`);
    return adopted;
  }

  /**
   * For a process that cannot take the lock (the agent holding it runs): writes one entry whole into
   * `<dir>/incoming/`, where the lock holder adopts it at its next delivery.
   */
  static async handOff(
    dir: string,
    id: string,
    payload: Uint8Array,
    kind: SpoolKind,
    now: number,
  ): Promise<string> {
    const incoming = join(dir, INCOMING_DIR);
    await mkdir(incoming, { recursive: true, mode: 0o700 });
    const rand = Math.random().toString(36).slice(2, 10);
    const name = `${String(Math.floor(now)).padStart(15, "0")}-${rand}-${safeId(id)}${ENTRY_SUFFIX}`;
    await writeAtomically(incoming, name, encodeEntry(safeId(id), payload, kind));
    return join(incoming, name);
  }

  /** Releases the lock. */
  async close(): Promise<void> {
    await this.lock.release();
  }

  private async delete(entry: SpoolEntry): Promise<void> {
    try {
      await unlink(join(this.options.dir, entry.name));
    } catch (error) {
      if (errorCode(error) !== "ENOENT") throw error;
    }
    this.forget(entry);
  }

  private forget(entry: SpoolEntry): void {
    const at = this.entries.indexOf(entry);
    if (at < 0) return;
    this.entries.splice(at, 1);
    this.total -= entry.bytes;
  }

  /** Moves a corrupt entry to corrupt/; if even that fails, deletes it, so the queue always moves on. */
  private async setAside(entry: SpoolEntry, why: string): Promise<void> {
    const { dir, log } = this.options;
    const aside = join(dir, CORRUPT_DIR);
    this.corrupt++;
    try {
      await mkdir(aside, { recursive: true, mode: 0o700 });
      await rename(join(dir, entry.name), join(aside, entry.name));
      await syncDir(dir);
      await trimCorrupt(aside);
      log.warn(
        `spool: entry ${entry.name} is corrupt (${why}); moved to ${aside} (${this.corrupt} set aside since start)`,
      );
    } catch (error) {
      log.error(
        `spool: entry ${entry.name} is corrupt (${why}) and cannot be moved aside: ${errorMessage(error)}`,
      );
      await unlink(join(dir, entry.name)).catch(() => {});
    }
    this.forget(entry);
  }

  private nextName(reportId: string): string {
    // Never before the newest entry, even if the clock steps back.
    const stamp = Math.max(Math.floor(this.options.now()), this.lastStamp);
    if (stamp !== this.lastStamp) this.sequence = 0;
    this.lastStamp = stamp;
    const seq = this.sequence++;
    return `${String(stamp).padStart(15, "0")}-${String(seq).padStart(6, "0")}-${safeId(reportId)}${ENTRY_SUFFIX}`;
  }
}

/** temp file, fsync, rename, fsync of the directory: the entry appears whole or not at all. */
async function writeAtomically(dir: string, name: string, data: Uint8Array): Promise<void> {
  const temp = join(dir, `.${name}${TEMP_SUFFIX}`);
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, join(dir, name));
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  await syncDir(dir);
}

/** Makes a rename or unlink durable. Windows cannot open a directory for fsync; NTFS journals it anyway. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function trimCorrupt(aside: string): Promise<void> {
  const names = (await readdir(aside)).filter((n) => n.endsWith(ENTRY_SUFFIX)).sort();
  for (const name of names.slice(0, Math.max(0, names.length - MAX_CORRUPT_KEPT))) {
    await unlink(join(aside, name)).catch(() => {});
  }
}

function safeId(reportId: string): string {
  return reportId.replace(/[^A-Za-z0-9-]/g, "_").slice(0, 64) || "report";
}

function stampOf(name: string | undefined): string {
  const ms = Number(name?.slice(0, 15));
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : "?";
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
