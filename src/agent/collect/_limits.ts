// Trimming to the report's LIMITS: the agent never sends what the server would reject.
import { LIMITS } from "../../shared/report.ts";

/** `value` cut to at most `max` UTF-16 units, never leaving half a surrogate pair. */
export function clip(value: string, max: number = LIMITS.shortText): string {
  if (value.length <= max) return value;
  const cut = value.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** A non-negative safe integer (byte counts, ids); anything else becomes 0. */
export function count(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Math.min(Math.round(value), Number.MAX_SAFE_INTEGER);
}

/** A finite number within [0, max]; NaN becomes 0. */
export function bounded(value: number, max: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Math.min(value, max);
}

/** A Date as ISO 8601 UTC, or null when it is not a real time. */
export function isoOrNull(date: Date): string | null {
  const ms = date.getTime();
  return Number.isFinite(ms) && ms > 0 ? date.toISOString() : null;
}
