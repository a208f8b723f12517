import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as v from "valibot";
import { checkReport, isValidProcess, ProcessSchema, ReportSchema } from "../../src/shared/report.ts";
import { sampleReport } from "../helpers/report.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);

// Mostly valid values, so that whole valid entries are common, and now and then one near a boundary the
// schema draws or anything at all.
const mostly = <T>(valid: fc.Arbitrary<T>, odd: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { arbitrary: valid, weight: 12 },
    { arbitrary: odd, weight: 1 },
    { arbitrary: fc.anything(), weight: 1 },
  );
const count = mostly(
  fc.nat(),
  fc.constantFrom(-1, 0.5, -0, Number.MAX_SAFE_INTEGER, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, "1"),
);
const percent = mostly(
  fc.double({ min: 0, max: 409_600, noNaN: true }),
  fc.constantFrom(-0.1, 409_600.5, Number.NaN, Number.POSITIVE_INFINITY, -0),
);
const text = (max: number) =>
  mostly(fc.string({ maxLength: 12 }), fc.constantFrom("x".repeat(max), "x".repeat(max + 1)));
const timestamp = mostly(
  fc.oneof(
    fc.constant(null),
    fc.date({ noInvalidDate: true, min: new Date(0) }).map((d) => d.toISOString()),
  ),
  fc.constantFrom(
    "2026-11-23 10:00:00+01:00",
    "2026-02-30T10:00:00Z",
    "yesterday",
    `2026-11-23T10:00:00.${"1".repeat(60)}Z`,
  ),
);
const field = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 40 });
const processLike = fc
  .record({
    pid: field(count),
    ppid: field(count),
    name: field(text(256)),
    user: field(text(256)),
    cpu_percent: field(percent),
    memory_rss_bytes: field(count),
    started_at: field(timestamp),
    command: field(text(4096)),
    state: field(text(32)),
    extra: fc.option(fc.anything(), { nil: undefined }),
  })
  .map((record) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)));
const withOddKeys = fc
  .tuple(processLike, fc.constantFrom("", "__proto__", "constructor", "prototype"))
  .map(([p, key]) =>
    key ? JSON.parse(JSON.stringify(p).replace(/^\{/, `{"${key}":{"x":1},`).replace(",}", "}")) : p,
  );

describe("isValidProcess", () => {
  test("accepts exactly what ProcessSchema accepts unchanged, on 20,000 generated entries", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(withOddKeys, fc.anything()), (candidate) => {
        const fast = isValidProcess(candidate);
        const full = v.is(ProcessSchema, candidate);
        const hasPrototypeKey =
          typeof candidate === "object" &&
          candidate !== null &&
          ["__proto__", "constructor", "prototype"].some((key) => Object.hasOwn(candidate, key));
        // Sound: never accepts what the schema refuses. Complete: accepts all it accepts, except entries with
        // prototype keys, which go the schema's way so that it strips them.
        if (fast) expect(full).toBe(true);
        if (full) accepted++;
        if (full && !hasPrototypeKey) expect(fast).toBe(true);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    // Both sides of the boundary are exercised, not only the refusals.
    expect(accepted).toBeGreaterThan(1_000);
  });
});

describe("checkReport", () => {
  test("gives the schema's own output for a valid report", () => {
    const report = sampleReport();
    const checked = checkReport(JSON.parse(JSON.stringify(report)));
    expect(checked.ok).toBe(true);
    if (checked.ok) expect(checked.report).toEqual(v.parse(ReportSchema, report));
  });

  test("names the bad field of a bad process entry with its path", () => {
    const report = sampleReport();
    const list = [...report.processes.list];
    list[1] = { ...(list[1] as (typeof list)[number]), pid: -5 };
    const checked = checkReport({ ...report, processes: { ...report.processes, list } });
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.issues.map((i) => i.path)).toContain("processes.list.1.pid");
  });

  test("strips prototype keys from process entries", () => {
    const text = JSON.stringify(sampleReport()).replace(
      '"list":[{',
      '"list":[{"__proto__":{"polluted":true},',
    );
    const checked = checkReport(JSON.parse(text));
    expect(checked.ok).toBe(true);
    if (checked.ok)
      expect(Object.hasOwn(checked.report.processes.list[0] as object, "__proto__")).toBe(false);
  });
});
