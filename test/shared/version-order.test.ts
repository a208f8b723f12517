import { describe, expect, test } from "bun:test";

const hasDpkg = Bun.which("dpkg") !== null;
const hasRpm = Bun.which("rpm") !== null;

/** dpkg's own verdict: exit 0 when `a lt b` holds. */
function dpkgLess(a: string, b: string): boolean {
  return Bun.spawnSync(["dpkg", "--compare-versions", a, "lt", b]).exitCode === 0;
}

/** rpm's own verdict through its Lua rpm.vercmp (whole EVR strings). */
function rpmOrder(a: string, b: string): number {
  const out = Bun.spawnSync(["rpm", "--eval", `%{lua: print(rpm.vercmp("${a}", "${b}"))}`]).stdout.toString();
  return Number(out.trim());
}

import { compareDebian, compareRpm, compareVersions } from "../../src/shared/version-order.ts";

// Each pair is [older, newer] as the package manager itself orders them.
describe("compareDebian (dpkg --compare-versions)", () => {
  const cases: [string, string][] = [
    ["3.0.2-0ubuntu1.10", "3.0.13-0ubuntu3.4"],
    ["1.0~rc1", "1.0"],
    ["1.0", "1.0+b1"],
    ["1.0-1", "1.0-1ubuntu1"],
    ["2:1.0", "1:9.9"].reverse() as [string, string],
    ["7.81.0-1", "7.81.0-1ubuntu1.16"],
    ["1.2.13.dfsg-1", "1:1.2.13.dfsg-1"],
    ["9.0.1378-2", "2:9.0.1378-2+deb12u2"],
    ["1.0a", "1.0b"],
    ["1.0", "1.0a"],
  ];
  for (const [older, newer] of cases) {
    test(`${older} < ${newer}`, () => {
      expect(compareDebian(older, newer)).toBe(-1);
      expect(compareDebian(newer, older)).toBe(1);
    });
  }
  test.skipIf(!hasDpkg)("agrees with dpkg --compare-versions on every pair", () => {
    for (const [older, newer] of cases)
      expect([older, newer, dpkgLess(older, newer)]).toEqual([older, newer, true]);
  });
  test("equal versions, leading zeros and an absent revision", () => {
    expect(compareDebian("1.01", "1.1")).toBe(0);
    expect(compareDebian("0:1.0", "1.0")).toBe(0);
  });
});

describe("compareRpm (rpmvercmp)", () => {
  const cases: [string, string][] = [
    ["3.0.7-27.el9", "1:3.0.7-27.el9"],
    ["3.0.7-24.el9", "3.0.7-27.el9"],
    ["1.0~rc1-1", "1.0-1"],
    ["1.0-1", "1.0^git1-1"],
    ["5.1.8-9.el9", "5.1.16-1.el9"],
    ["2024a-1.el9", "2024b-1.el9"],
    ["1.a", "1.1"],
  ];
  for (const [older, newer] of cases) {
    test(`${older} < ${newer}`, () => {
      expect(compareRpm(older, newer)).toBe(-1);
      expect(compareRpm(newer, older)).toBe(1);
    });
  }
  test.skipIf(!hasRpm)("agrees with rpm's own rpm.vercmp on every pair", () => {
    for (const [older, newer] of cases)
      expect([older, newer, rpmOrder(older, newer)]).toEqual([older, newer, -1]);
  });
  test("a version without release equals any release of it", () => {
    expect(compareRpm("3.0.7", "3.0.7-27.el9")).toBe(0);
  });
});

describe("compareVersions", () => {
  test("semantic versions where both sides are one: a pre-release is older than its release", () => {
    expect(compareVersions("1.0.0-rc.1", "1.0.0", "semver")).toBe(-1);
    expect(compareVersions("1.10.0", "1.9.0", "semver")).toBe(1);
  });
  test("other Windows versions (four parts, text) by dpkg's rules: numbers as numbers", () => {
    expect(compareVersions("14.38.33130.0", "14.4.1.0", "semver")).toBe(1);
    expect(compareVersions("6.2.11 (50191)", "6.2.9 (1)", "semver")).toBe(1);
    expect(compareVersions("131.0.2903.70", "131.0.2903.70", "semver")).toBe(0);
  });
});
