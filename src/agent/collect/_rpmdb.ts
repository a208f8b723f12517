// RPM's package database. Since rpm 4.16 (Fedora 33, RHEL 9, SUSE 15.4) it is one SQLite file,
// rpmdb.sqlite, whose Packages table holds each package's header blob: read here through bun:sqlite, read
// only, with no child process. Older databases (Berkeley DB, ndb) are read by `rpm -qa` instead.
import { Database } from "bun:sqlite";
import type { SoftwareItem } from "../../shared/report.ts";
import { clip, count, isoOrNull } from "./_limits.ts";

const TAG = {
  name: 1000,
  version: 1001,
  release: 1002,
  epoch: 1003,
  installTime: 1008,
  size: 1009,
  vendor: 1011,
  arch: 1022,
  longSize: 5009,
} as const;
const TYPE = { int32: 4, int64: 5, string: 6, stringArray: 8, i18n: 9 } as const;

/** The tags of one header blob (index count, data length, 16-byte index entries, data), as a lookup. */
export function parseRpmHeader(blob: Uint8Array): Map<number, string | number> {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const tags = new Map<number, string | number>();
  if (blob.byteLength < 8) return tags;
  const entries = view.getUint32(0);
  const dataLength = view.getUint32(4);
  const dataStart = 8 + entries * 16;
  if (dataStart + dataLength > blob.byteLength) throw new Error("rpm header is shorter than its index says");
  const wanted = new Set<number>(Object.values(TAG));
  const decoder = new TextDecoder();
  for (let i = 0; i < entries; i++) {
    const at = 8 + i * 16;
    const tag = view.getUint32(at);
    if (!wanted.has(tag)) continue;
    const type = view.getUint32(at + 4);
    const offset = dataStart + view.getUint32(at + 8);
    if (offset >= dataStart + dataLength) continue;
    if (type === TYPE.string || type === TYPE.stringArray || type === TYPE.i18n) {
      const end = blob.indexOf(0, offset);
      tags.set(tag, decoder.decode(blob.subarray(offset, end < 0 ? dataStart + dataLength : end)));
    } else if (type === TYPE.int32) tags.set(tag, view.getUint32(offset));
    else if (type === TYPE.int64) tags.set(tag, Number(view.getBigUint64(offset)));
  }
  return tags;
}

/** The full version as rpm spells it: [epoch:]version-release. */
function rpmVersion(epoch: unknown, version: unknown, release: unknown): string {
  const base = [version, release].filter((part) => typeof part === "string" && part).join("-");
  return typeof epoch === "number" && epoch > 0 ? `${epoch}:${base}` : base;
}

function rpmItem(tags: Map<number, string | number>): SoftwareItem | undefined {
  const name = tags.get(TAG.name);
  // The imported signing keys are pseudo-packages, not software.
  if (typeof name !== "string" || !name || name === "gpg-pubkey") return undefined;
  const vendor = tags.get(TAG.vendor);
  const arch = tags.get(TAG.arch);
  const installed = tags.get(TAG.installTime);
  const size = tags.get(TAG.longSize) ?? tags.get(TAG.size);
  return {
    name: clip(name),
    version: clip(rpmVersion(tags.get(TAG.epoch), tags.get(TAG.version), tags.get(TAG.release))),
    vendor: clip(typeof vendor === "string" ? vendor : ""),
    arch: clip(typeof arch === "string" ? arch : "", 32),
    install_date:
      typeof installed === "number" && installed > 0 ? isoOrNull(new Date(installed * 1000)) : null,
    size_bytes: typeof size === "number" ? count(size) : null,
    source: "rpm",
  };
}

/** Every package of an rpmdb.sqlite file, opened read-only (rpm may be writing it: WAL readers do not block). */
export function readRpmSqlite(path: string): SoftwareItem[] {
  const db = new Database(path, { readonly: true });
  try {
    const items: SoftwareItem[] = [];
    for (const row of db.query("SELECT blob FROM Packages").iterate() as Iterable<{ blob: Uint8Array }>) {
      const item = rpmItem(parseRpmHeader(row.blob));
      if (item) items.push(item);
    }
    return items;
  } finally {
    db.close();
  }
}

/** What `rpm -qa` is asked to print: one tab-separated line per package. */
export const RPM_QUERY_FORMAT =
  "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{INSTALLTIME}\\t%{SIZE}\\n";

export function parseRpmQuery(text: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const line of text.split("\n")) {
    const [name, epoch, version, release, arch, vendor, installed, size] = line.split("\t");
    if (!name || name === "gpg-pubkey" || size === undefined) continue;
    const none = (value: string | undefined) => (value === "(none)" ? "" : (value ?? ""));
    const tags = new Map<number, string | number>([
      [TAG.name, name],
      [TAG.epoch, Number(epoch) || 0],
      [TAG.version, none(version)],
      [TAG.release, none(release)],
      [TAG.arch, none(arch)],
      [TAG.vendor, none(vendor)],
      [TAG.installTime, Number(installed) || 0],
      [TAG.size, Number(size) || 0],
    ]);
    const item = rpmItem(tags);
    if (item) items.push(item);
  }
  return items;
}
