// Which of two package versions is older, the way the package's own manager decides it: dpkg's ordering
// (epoch, upstream, revision; `~` sorts before everything, even the end) for Debian and Alpine packages,
// rpmvercmp (epoch, version, release; `~` before, `^` after) for RPM, and semantic versions where both
// sides are one (so 1.0.0-rc.1 is older than 1.0.0); anything else falls back to dpkg's rules, which
// order the numbers in "3.0.10" and "3.0.9" as numbers.
import { compareSemver, parseSemver } from "./semver.ts";

export type VersionScheme = "debian" | "rpm" | "semver";

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isAlpha = (c: string | undefined) => c !== undefined && /[A-Za-z]/.test(c);

/** dpkg's order of one character of a non-digit part: ~ first, then the end, letters, everything else. */
function dpkgOrder(c: string | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (isAlpha(c)) return c.charCodeAt(0);
  if (c === "~") return -1;
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp over one part (upstream version or revision). */
function dpkgPart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = dpkgOrder(a[i]);
      const bc = dpkgOrder(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    let firstDiff = 0;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = (a[i] as string).charCodeAt(0) - (b[j] as string).charCodeAt(0);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** "[epoch:]version[-release]" → its three parts (no epoch is 0; no release is ""). */
function splitEvr(text: string): [number, string, string] {
  const colon = text.indexOf(":");
  const epoch = colon > 0 && /^\d+$/.test(text.slice(0, colon)) ? Number(text.slice(0, colon)) : 0;
  const rest = colon > 0 && /^\d+$/.test(text.slice(0, colon)) ? text.slice(colon + 1) : text;
  const dash = rest.lastIndexOf("-");
  return dash > 0 ? [epoch, rest.slice(0, dash), rest.slice(dash + 1)] : [epoch, rest, ""];
}

export function compareDebian(a: string, b: string): number {
  const [ea, va, ra] = splitEvr(a);
  const [eb, vb, rb] = splitEvr(b);
  if (ea !== eb) return Math.sign(ea - eb);
  return Math.sign(dpkgPart(va, vb) || dpkgPart(ra, rb));
}

/** rpm's rpmvercmp over one part. */
function rpmPart(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const skippable = (c: string | undefined) =>
    c !== undefined && !isDigit(c) && !isAlpha(c) && c !== "~" && c !== "^";
  for (;;) {
    while (skippable(a[i])) i++;
    while (skippable(b[j])) j++;
    if (a[i] === "~" || b[j] === "~") {
      if (a[i] !== "~") return 1;
      if (b[j] !== "~") return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === "^" || b[j] === "^") {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== "^") return 1;
      if (b[j] !== "^") return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = isDigit(a[i]);
    const take = (s: string, at: number) => {
      let end = at;
      while (end < s.length && (numeric ? isDigit(s[end]) : isAlpha(s[end]))) end++;
      return s.slice(at, end);
    };
    let sa = take(a, i);
    let sb = take(b, j);
    i += sa.length;
    j += sb.length;
    // A number against letters: the number is newer.
    if (!sb) return numeric ? 1 : -1;
    if (numeric) {
      sa = sa.replace(/^0+/, "");
      sb = sb.replace(/^0+/, "");
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa > sb ? 1 : -1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i < a.length ? 1 : -1;
}

export function compareRpm(a: string, b: string): number {
  const [ea, va, ra] = splitEvr(a);
  const [eb, vb, rb] = splitEvr(b);
  if (ea !== eb) return Math.sign(ea - eb);
  return rpmPart(va, vb) || (ra && rb ? rpmPart(ra, rb) : 0);
}

/** The ordering a package source uses. */
export function schemeOf(source: string): VersionScheme {
  if (source === "rpm") return "rpm";
  if (source === "dpkg" || source === "apk") return "debian";
  return "semver";
}

/** -1, 0 or 1 as `a` is older than, as old as, or newer than `b` under `scheme`. */
export function compareVersions(a: string, b: string, scheme: VersionScheme): number {
  if (scheme === "rpm") return compareRpm(a, b);
  if (scheme === "semver") {
    const sa = parseSemver(a);
    const sb = parseSemver(b);
    if (sa && sb) return compareSemver(sa, sb);
  }
  return compareDebian(a, b);
}
