// Calendar days as the store names them (YYYY-MM-DD), checked to be real dates before they reach a path.

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The date if `input` is a real calendar day in YYYY-MM-DD form, else null (rejects 2026-02-30). */
export function parseDay(input: string): string | null {
  const match = DAY.exec(input);
  if (!match) return null;
  const [, y, m, d] = match.map(Number) as [number, number, number, number];
  const date = new Date(Date.UTC(y, m - 1, d));
  const ok = date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  return ok && y >= 1970 ? input : null;
}

export type DayZone = "utc" | "local";

/** The day a moment falls on, in UTC or in the server's local time zone. */
export function dayOf(moment: Date, zone: DayZone): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  if (zone === "utc") return moment.toISOString().slice(0, 10);
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
}
