// Hostile bodies are refused by their shape before JSON.parse or the schema walk them (issue 9, item 7).
import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { parseJson } from "../../src/server/body.ts";
import { ApiError } from "../../src/server/http-error.ts";
import { intake } from "../../src/server/intake.ts";
import { checkShape, SHAPE_LIMITS } from "../../src/server/json-shape.ts";
import { sampleReport } from "../helpers/report.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const MiB = 1024 * 1024;

function refusal(run: () => unknown): { status: number; code: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof ApiError) return { status: error.status, code: error.code };
    throw error;
  }
  throw new Error("accepted");
}

const arrayOfA = `[${new Array(2 * MiB).fill('"a"').join(",")}]`;
const manyKeys = `{${Array.from({ length: 700_000 }, (_, i) => `"k${i}":1`).join(",")}}`;
const deep = "[".repeat(4_000_000) + "]".repeat(4_000_000);

describe("checkShape refuses hostile bodies by their first bytes", () => {
  const cases: Array<[string, string, number, string]> = [
    ["an 8 MiB array of strings", arrayOfA, 422, "invalid_report"],
    ["an object with 700k keys", manyKeys, 400, "too_complex"],
    ["a 4-million-deep array", deep, 400, "too_deep"],
    ["a 4-million-deep array inside an object", `{"a":${deep}}`, 400, "too_deep"],
    ["a list of a million items inside an object", `{"os":${arrayOfA}}`, 400, "too_complex"],
    ["a top-level string", '"x"', 422, "invalid_report"],
    ["a top-level number", "12", 422, "invalid_report"],
  ];
  for (const [what, text, status, code] of cases) {
    test(`${what}: ${status} ${code}, raw and gzip`, () => {
      expect(refusal(() => parseJson(enc(text)))).toEqual({ status, code });
      const gz = gzipSync(text);
      expect(refusal(() => intake({ body: gz, gzip: true, maxBody: 9 * MiB }))).toEqual({ status, code });
    });
  }

  test("a gzip prefix that shows the problem is enough: the rest is never inflated", () => {
    // 4 KB of a 700k-key body, cut mid-key: checked as far as it goes.
    const start = enc(manyKeys.slice(0, 20_000));
    expect(refusal(() => checkShape(start, true))).toEqual({ status: 400, code: "too_complex" });
    expect(checkShape(enc('{"a":[1,2,"unterminated'), true)).toEqual({ loneSurrogates: false });
  });

  test("the bounds sit above anything a report holds", () => {
    const model = sampleReport().processes.list[0];
    const list = Array.from({ length: 20_000 }, (_, pid) => ({ ...model, pid }));
    const big = sampleReport({ processes: { total: list.length, list } as never });
    expect(intake({ body: enc(JSON.stringify(big)), gzip: false, maxBody: 64 * MiB }).id).toBe(big.report_id);
    const keys = Object.fromEntries(
      Array.from({ length: SHAPE_LIMITS.keysPerObject - 1 }, (_, i) => [`k${i}`, i]),
    );
    expect(() => checkShape(enc(JSON.stringify({ ...keys, more: 1 })))).not.toThrow();
  });

  test("strings with brackets, commas and escaped quotes are not structure", () => {
    const tricky = { a: `${"[".repeat(100)}\\"${",".repeat(5000)}`, b: "\\", c: '"{' };
    expect(() => checkShape(enc(JSON.stringify(tricky)))).not.toThrow();
  });
});
