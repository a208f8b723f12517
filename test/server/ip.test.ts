import { describe, expect, test } from "bun:test";
import { parseDay } from "../../src/server/day.ts";
import { canonicalIp, ipFromFileName, ipToFileName, parseIpParam } from "../../src/server/ip.ts";

describe("canonicalIp", () => {
  const cases: Array<[string, string | null]> = [
    ["10.0.0.5", "10.0.0.5"],
    ["2001:DB8:0:0:0:0:0:5", "2001:db8::5"],
    ["2001:db8::0:5", "2001:db8::5"],
    ["::1", "::1"],
    ["::", "::"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["::FFFF:c000:0207", "192.0.2.7"],
    ["fe80::1%eth0", "fe80::1"],
    ["[2001:db8::1]", "2001:db8::1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["", null],
    ["10.0.0.256", null],
    ["../etc/passwd", null],
    ["10.0.0.5\0", null],
    ["10.0.0.5_2026-11-23.json", null],
    ["1:2:3:4:5:6:7:8:9", null],
  ];
  for (const [input, want] of cases) {
    test(`${JSON.stringify(input)} -> ${want}`, () => expect(canonicalIp(input)).toBe(want));
  }
});

describe("file names", () => {
  for (const ip of ["10.0.0.5", "2001:db8::5", "::1", "fe80::a:b:c:d"]) {
    test(`${ip} maps to a Windows-safe name and back`, () => {
      const name = ipToFileName(ip);
      expect(name).not.toMatch(/[:\\/<>|?*"]/);
      expect(ipFromFileName(name)).toBe(ip);
    });
  }
  test("rejects names that are not canonical addresses", () => {
    for (const name of ["..", "2001-DB8--5", "10.0.0.05", "a-b", ""]) expect(ipFromFileName(name)).toBeNull();
  });
  test("accepts an address in its file-name form as a query parameter", () => {
    expect(parseIpParam("2001-db8--5")).toBe("2001:db8::5");
    expect(parseIpParam("../../x")).toBeNull();
  });
  test("refuses a zone id and surrounding whitespace in a query (a peer address may have both)", () => {
    for (const input of ["1.2.3.4%32", "1.2.3.4%2532", "fe80::1%eth0", " 1.2.3.4", "1.2.3.4\t", "\n::1"]) {
      expect(parseIpParam(input)).toBeNull();
    }
    expect(canonicalIp(" 1.2.3.4 ")).toBe("1.2.3.4");
    expect(parseIpParam("[::1]")).toBe("::1");
  });
});

describe("parseDay", () => {
  const cases: Array<[string, string | null]> = [
    ["2026-11-23", "2026-11-23"],
    ["2024-02-29", "2024-02-29"],
    ["2026-02-29", null],
    ["2026-02-30", null],
    ["2026-13-01", null],
    ["2026-11-23/../x", null],
    ["26-11-23", null],
    ["2026-11-23\0", null],
  ];
  for (const [input, want] of cases)
    test(`${JSON.stringify(input)} -> ${want}`, () => expect(parseDay(input)).toBe(want));
});
