// The `next` cursor of GET /logs: where the last page ended (timestamp and id of its last entry) and the
// newest id that existed when the first page was read. Pages after the first see exactly the entries of
// that snapshot, so entries that keep arriving are neither skipped nor repeated; they show in a new query.
// The cursor also carries a digest of the filters, so it cannot be replayed against other ones.
import { createHash } from "node:crypto";
import * as v from "valibot";

const CursorSchema = v.strictObject({
  v: v.literal(1),
  snapshot: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  ts: v.pipe(v.number(), v.safeInteger()),
  id: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  filters: v.pipe(v.string(), v.length(16)),
});
export type Cursor = v.InferOutput<typeof CursorSchema>;

export function filterDigest(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}

export function encodeCursor(cursor: Omit<Cursor, "v">): string {
  return Buffer.from(JSON.stringify({ v: 1, ...cursor })).toString("base64url");
}

/** The cursor, or null when the text is not one this server made. */
export function decodeCursor(text: string): Cursor | null {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(text)) return null;
  try {
    const parsed = v.safeParse(CursorSchema, JSON.parse(Buffer.from(text, "base64url").toString("utf8")));
    return parsed.success ? parsed.output : null;
  } catch {
    return null;
  }
}
