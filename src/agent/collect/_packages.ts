// The package databases of Linux distributions that are plain text files, parsed in-process: dpkg's status
// file, apk's installed database and pacman's local directory entries. Pure functions over the text.
import type { SoftwareItem } from "../../shared/report.ts";
import { clip, count, isoOrNull } from "./_limits.ts";

const KIB = 1024;

/** Stanzas separated by blank lines, each field `Name: value` (continuation lines start with a space). */
function* stanzas(text: string): Generator<Map<string, string>> {
  let fields = new Map<string, string>();
  let at = 0;
  while (at <= text.length) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const line = text.slice(at, end);
    at = end + 1;
    if (line === "" || line === "\r") {
      if (fields.size) yield fields;
      fields = new Map();
      if (end === text.length) break;
      continue;
    }
    // Continuation lines (descriptions, conffiles) are not needed.
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) continue;
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
    if (end === text.length) break;
  }
  if (fields.size) yield fields;
}

/**
 * /var/lib/dpkg/status: the packages whose status is `installed` (dpkg-query's `?i` lines: held ones too,
 * half-configured or removed-with-config ones not). Installed-Size is in KiB.
 */
export function parseDpkgStatus(text: string): SoftwareItem[] {
  const items: SoftwareItem[] = [];
  for (const fields of stanzas(text)) {
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
  for (const fields of stanzas(text)) {
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
