// Semantic versions (semver.org 2.0.0) compared as numbers, not strings: "1.10.0" is newer than "1.9.0",
// and a pre-release ("1.1.0-rc.1") is older than its release.
const SEMVER =
  /^v?(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$/;

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  pre: string[];
}

export function parseSemver(text: string): SemVer | null {
  if (text.length > 64) return null;
  const m = SEMVER.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] ? m[4].split(".") : [] };
}

function comparePre(a: string[], b: string[]): number {
  if (!a.length || !b.length) return b.length - a.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      if (Number(x) !== Number(y)) return Number(x) < Number(y) ? -1 : 1;
    } else if (nx !== ny) return nx ? -1 : 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** -1, 0 or 1 as a is older than, as old as, or newer than b (build metadata is ignored). */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (const key of ["major", "minor", "patch"] as const) {
    if (a[key] !== b[key]) return a[key] < b[key] ? -1 : 1;
  }
  return Math.sign(comparePre(a.pre, b.pre));
}

export interface Release {
  version: string;
  download_url: string;
  changelog: string;
}

/** The newest release newer than `current`, or null (releases with unparseable versions are skipped). */
export function newerRelease(current: SemVer, releases: readonly Release[]): Release | null {
  let best: { release: Release; version: SemVer } | null = null;
  for (const release of releases) {
    const version = parseSemver(release.version);
    if (!version || compareSemver(version, current) <= 0) continue;
    if (!best || compareSemver(version, best.version) > 0) best = { release, version };
  }
  return best?.release ?? null;
}
