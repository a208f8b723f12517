// ISO 8601 date-times as microseconds since the epoch, UTC. Date.parse keeps only milliseconds, accepts
// forms that are not ISO 8601 and rolls February 30th over into March; log clients send microseconds
// (Python's isoformat) and any offset, so this parser is strict about the calendar and keeps the fraction.

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const FIRST_MS = -62135596800000; // 0001-01-01T00:00:00Z
const LAST_MS = 253402300799999; // 9999-12-31T23:59:59.999Z
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const num = (text: string | undefined) => (text === undefined ? 0 : +text);

/**
 * Microseconds since 1970-01-01T00:00:00Z, or null when `text` is not a real ISO 8601 date-time. A time
 * without an offset is taken as UTC (what `datetime.utcnow().isoformat()` sends). Digits past the
 * microsecond are dropped. Written without Date: it runs once per log entry.
 */
export function parseIsoMicros(text: string): number | null {
  const m = ISO.exec(text);
  if (!m) return null;
  const year = num(m[1]);
  const month = num(m[2]);
  const day = num(m[3]);
  const hour = num(m[4]);
  const minute = num(m[5]);
  const second = num(m[6]);
  if (month < 1 || month > 12 || day < 1) return null;
  if (day > (month === 2 && isLeap(year) ? 29 : (MONTH_DAYS[month - 1] as number))) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const digits = m[7];
  const fraction =
    digits === undefined ? 0 : +(digits.length >= 6 ? digits.slice(0, 6) : digits.padEnd(6, "0"));
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const oh = +zone.slice(1, 3);
    const om = zone.length > 3 ? +zone.slice(zone.length - 2) : 0;
    if (oh > 23 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  const ms =
    ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000;
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
