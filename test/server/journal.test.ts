import { describe, expect, test } from "bun:test";
import { encodeCancel, encodeRecord, readSegment } from "../../src/server/store/journal.ts";

const encoder = new TextEncoder();
const record = (seq: number, id: string) =>
  encodeRecord(
    seq,
    { file: "10.0.0.1_2026-11-23.json", offset: 3, id },
    encoder.encode(`{"report_id":"${id}"}`),
  );
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

describe("journal segments", () => {
  test("records read back in order, cancels marked", () => {
    const bytes = concat(record(7, "a"), record(7, "b"), encodeCancel(7, "10.0.0.1_2026-11-23.json", "a"));
    const records = readSegment(bytes, 7);
    expect(records.map((r) => [r.id, r.cancel ?? false])).toEqual([
      ["a", false],
      ["b", false],
      ["a", true],
    ]);
    expect(records[0]?.element).toBe('{"report_id":"a"}');
    expect(records[0]?.offset).toBe(3);
  });

  test("a recycled file's records of an older segment end the segment", () => {
    // Segment 9 overwrote the start of the file that was segment 4: what follows is 4's, never replayed.
    const bytes = concat(record(9, "new"), record(4, "old-2"), record(4, "old-3"));
    expect(readSegment(bytes, 9).map((r) => r.id)).toEqual(["new"]);
    expect(readSegment(bytes, 4)).toEqual([]);
  });

  test("a record whose seq was changed fails its checksum", () => {
    const bytes = record(5, "x");
    new DataView(bytes.buffer).setUint32(8, 6, true);
    expect(readSegment(bytes, 6)).toEqual([]);
  });

  test("a torn record ends the segment at every cut point", () => {
    const whole = concat(record(2, "a"), record(2, "b"));
    const first = record(2, "a").length;
    for (let cut = first; cut < whole.length; cut++) {
      expect(readSegment(whole.subarray(0, cut), 2).map((r) => r.id)).toEqual(["a"]);
    }
    expect(readSegment(whole, 2).map((r) => r.id)).toEqual(["a", "b"]);
  });
});
