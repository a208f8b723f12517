// ISO 8601 date-times as microseconds since the epoch, UTC. Date.parse keeps only milliseconds, accepts
// forms that are not ISO 8601 and rolls February 30th over into March; log clients send microseconds
// (Python's isoformat) and any offset, so this parser is strict about the calendar and keeps the fraction.

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const FIRST_MS = -62135596800000; // 0001-01-01T00:00:00Z
const LAST_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Microseconds since 1970-01-01T00:00:00Z, or null when `text` is not a real ISO 8601 date-time. A time
 * without an offset is taken as UTC (what `datetime.utcnow().isoformat()` sends). Digits past the
 * microsecond are dropped.
 */
export function parseIsoMicros(text: string): number | null {
  const m = ISO.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = Number(m[6] ?? "0");
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const fraction = Number((m[7] ?? "").padEnd(6, "0").slice(0, 6));
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || "0");
    if (oh > 23 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year);
  const ms = date.getTime() - offsetMinutes * 60_000;
  // Years 1-9999 in UTC too, so every stored time formats back as plain ISO 8601.
  if (ms < FIRST_MS || ms > LAST_MS) return null;
  return ms * 1000 + fraction;
}

/** `2025-08-27T10:00:00.000Z`, or six fraction digits when the microseconds are not whole milliseconds. */
export function formatIsoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString();
  const rest = micros - ms * 1000;
  return rest === 0 ? iso : `${iso.slice(0, -1)}${String(rest).padStart(3, "0")}Z`;
}
