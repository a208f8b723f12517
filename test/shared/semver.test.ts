import { describe, expect, test } from "bun:test";
import { compareSemver, newerRelease, parseSemver, type SemVer } from "../../src/shared/semver.ts";

const sv = (text: string): SemVer => {
  const parsed = parseSemver(text);
  if (!parsed) throw new Error(`not a version: ${text}`);
  return parsed;
};
const release = (version: string) => ({
  version,
  download_url: `https://example.test/${version}`,
  changelog: "",
});

describe("semantic versions", () => {
  test("compares numerically: 1.10.0 is newer than 1.9.0 (a string comparison says otherwise)", () => {
    expect("1.10.0" < "1.9.0").toBe(true);
    expect(compareSemver(sv("1.10.0"), sv("1.9.0"))).toBe(1);
    expect(compareSemver(sv("1.9.0"), sv("1.10.0"))).toBe(-1);
    expect(compareSemver(sv("2.0.0"), sv("2.0.0+build.7"))).toBe(0);
    expect(compareSemver(sv("v1.2.3"), sv("1.2.3"))).toBe(0);
  });

  test("a pre-release is older than its release, and ordered as semver.org says", () => {
    const order = [
      "1.0.0-alpha",
      "1.0.0-alpha.1",
      "1.0.0-alpha.beta",
      "1.0.0-beta",
      "1.0.0-beta.2",
      "1.0.0-beta.11",
      "1.0.0-rc.1",
      "1.0.0",
    ];
    for (let i = 1; i < order.length; i++) {
      expect(compareSemver(sv(order[i - 1] as string), sv(order[i] as string))).toBe(-1);
      expect(compareSemver(sv(order[i] as string), sv(order[i - 1] as string))).toBe(1);
    }
  });

  test("refuses what is not a version", () => {
    for (const bad of [
      "",
      "1",
      "1.0",
      "1.0.0.0",
      "01.0.0",
      "1.0.0-",
      "one",
      "1.0.0 ",
      `${"1".repeat(70)}.0.0`,
    ]) {
      expect(parseSemver(bad)).toBeNull();
    }
  });

  test("the newest newer release wins; none when the agent is current or ahead", () => {
    const releases = [
      release("1.9.0"),
      release("1.10.0"),
      release("1.2.0"),
      release("garbage"),
      release("2.0.0-rc.1"),
    ];
    expect(newerRelease(sv("1.0.0"), releases)?.version).toBe("2.0.0-rc.1");
    expect(newerRelease(sv("2.0.0"), releases)).toBeNull();
    expect(newerRelease(sv("1.9.5"), releases.slice(0, 3))?.version).toBe("1.10.0");
    expect(newerRelease(sv("1.0.0"), [])).toBeNull();
  });
});
