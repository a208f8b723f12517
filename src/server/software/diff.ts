// What changed between a host's stored software list and a new one. An entry is one package of one source
// (and, for per-user installs, one user) on one architecture; a package installed in several versions at once
// (RPM kernels) keeps each. A version that replaced another is an upgrade or a downgrade by the package
// manager's own ordering.
import type { SoftwareChange } from "../../shared/software.ts";
import { compareVersions, schemeOf } from "../../shared/version-order.ts";

export interface Entry {
  name: string;
  version: string;
  arch: string;
  source: string;
  user: string | null;
}

type Change = Omit<SoftwareChange, "at" | "ip">;

const keyOf = (entry: Entry) => `${entry.source}\0${entry.user ?? ""}\0${entry.name}\0${entry.arch}`;

function byKey(entries: readonly Entry[]): Map<string, { entry: Entry; versions: string[] }> {
  const map = new Map<string, { entry: Entry; versions: string[] }>();
  for (const entry of entries) {
    const key = keyOf(entry);
    const found = map.get(key);
    if (found) found.versions.push(entry.version);
    else map.set(key, { entry, versions: [entry.version] });
  }
  return map;
}

export function diffSoftware(before: readonly Entry[], after: readonly Entry[]): Change[] {
  const old = byKey(before);
  const changes: Change[] = [];
  const base = (entry: Entry) => ({
    name: entry.name,
    arch: entry.arch,
    source: entry.source,
    user: entry.user,
  });
  for (const [key, { entry, versions }] of byKey(after)) {
    const had = old.get(key);
    old.delete(key);
    const gone = had ? had.versions.filter((version) => !versions.includes(version)) : [];
    const added = had ? versions.filter((version) => !had.versions.includes(version)) : versions;
    const scheme = schemeOf(entry.source);
    const order = (a: string, b: string) => compareVersions(a, b, scheme);
    gone.sort(order);
    added.sort(order);
    // Pair what went with what came, oldest with oldest: one upgrade each.
    while (gone.length && added.length) {
      const from = gone.shift() as string;
      const to = added.shift() as string;
      const change = order(to, from) < 0 ? "downgraded" : "upgraded";
      changes.push({ change, ...base(entry), old_version: from, new_version: to });
    }
    for (const version of added)
      changes.push({ change: "installed", ...base(entry), old_version: null, new_version: version });
    for (const version of gone)
      changes.push({ change: "removed", ...base(entry), old_version: version, new_version: null });
  }
  for (const { entry, versions } of old.values()) {
    for (const version of versions)
      changes.push({ change: "removed", ...base(entry), old_version: version, new_version: null });
  }
  return changes;
}
