// The package databases of Linux distributions that are plain text files, parsed in-process: dpkg's status
// file, apk's installed database and pacman's local directory entries. Pure functions over the text.
import type { SoftwareItem } from "../../shared/report.ts";
import { clip, count, isoOrNull } from "./_limits.ts";

const KIB = 1024;
const DPKG_KEYS = ["Package", "Status", "Version", "Maintainer", "Architecture", "Installed-Size"] as const;
const APK_KEYS = ["P", "V", "A", "I", "m"] as const;

/**
 * Stanzas separated by blank lines, each field `Name: value`; only the fields in `keys` are kept. Lines are
 * not sliced unless wanted: a dpkg status file is 30,000 lines of descriptions and conffiles for 3,000
 * packages, and this runs on every report.
 */
function* stanzas(text: string, keys: readonly string[]): Generator<Map<string, string>> {
  let fields = new Map<string, string>();
  let at = 0;
  const length = text.length;
  while (at < length) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = length;
    const first = text.charCodeAt(at);
    if (end === at || (first === 13 && end === at + 1)) {
      if (fields.size) yield fields;
      fields = new Map();
    } else if (first !== 32 && first !== 9) {
      for (const key of keys) {
        if (text.charCodeAt(at + key.length) === 58 && text.startsWith(key, at)) {
          fields.set(key, text.slice(at + key.length + 1, end).trim());
          break;
        }
      }
    }
    at = end + 1;
  }
  if (fields.size) yield fields;
}

/**
 * /var/lib/dpkg/status: the packages whose status is `installed` (dpkg-query's `?i` lines: held ones too,
 * half-configured or removed-with-config ones not). Installed-Size is in KiB.
 */
export function parseDpkgStatus(text: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const fields of stanzas(text, DPKG_KEYS)) {
    const name = fields.get("Package");
    const status = fields.get("Status") ?? "";
    if (!name || !status.endsWith(" installed")) continue;
    const size = Number(fields.get("Installed-Size"));
    items.push({
      name: clip(name),
      version: clip(fields.get("Version") ?? ""),
      vendor: clip(fields.get("Maintainer") ?? ""),
      arch: clip(fields.get("Architecture") ?? "", 32),
      install_date: null,
      size_bytes: Number.isFinite(size) && size >= 0 ? count(size * KIB) : null,
      source: "dpkg",
    });
  }
  return items;
}

/** /lib/apk/db/installed: one record per package, one-letter keys (P name, V version, A arch, I size, m maintainer, t build time). */
export function parseApkInstalled(text: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const fields of stanzas(text, APK_KEYS)) {
    const name = fields.get("P");
    if (!name) continue;
    const size = Number(fields.get("I"));
    items.push({
      name: clip(name),
      version: clip(fields.get("V") ?? ""),
      vendor: clip(fields.get("m") ?? ""),
      arch: clip(fields.get("A") ?? "", 32),
      // apk keeps no install time; `t` is when the package was built.
      install_date: null,
      size_bytes: Number.isFinite(size) && size >= 0 ? count(size) : null,
      source: "apk",
    });
  }
  return items;
}

/** One /var/lib/pacman/local/<name-version>/desc file: `%KEY%` lines, each followed by its values. */
export function parsePacmanDesc(text: string): SoftwareItem | undefined {
  const values = new Map<string, string>();
  let key = "";
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (/^%[A-Z0-9]+%$/.test(trimmed)) key = trimmed.slice(1, -1);
    else if (trimmed && key && !values.has(key)) values.set(key, trimmed);
    else if (!trimmed) key = "";
  }
  const name = values.get("NAME");
  if (!name) return undefined;
  const installed = Number(values.get("INSTALLDATE"));
  const size = Number(values.get("SIZE"));
  return {
    name: clip(name),
    version: clip(values.get("VERSION") ?? ""),
    vendor: clip(values.get("PACKAGER") ?? ""),
    arch: clip(values.get("ARCH") ?? "", 32),
    install_date: installed > 0 ? isoOrNull(new Date(installed * 1000)) : null,
    size_bytes: Number.isFinite(size) && size >= 0 ? count(size) : null,
    source: "pacman",
  };
}
