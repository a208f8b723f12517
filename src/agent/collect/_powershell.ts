// What the Windows collectors share: the runner type and the parsing of what PowerShell printed. The
// session itself (one persistent process, framed commands) is _ps-session.ts.

/** Runs one PowerShell command; resolves to what it printed on stdout. */
export type PowerShellRunner = (command: string) => Promise<string>;

/** A runner for platforms without PowerShell: every Windows collector fails clearly if ever called. */
export const noPowerShell: PowerShellRunner = () =>
  Promise.reject(new Error("PowerShell is not available here"));

/**
 * Parses the JSON that `ConvertTo-Json -Compress` printed. Windows PowerShell 5.1 may prefix a BOM and
 * surround it with blank lines; a lone object where a list was expected is wrapped.
 */
export function parsePowerShellJson(text: string): unknown {
  const body = text.replace(/^\uFEFF/, "").trim();
  if (!body) throw new Error("PowerShell printed nothing");
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`PowerShell printed something that is not JSON: ${body.slice(0, 120)}`);
  }
}

export function asList(value: unknown): Record<string, unknown>[] {
  const list = Array.isArray(value) ? value : value == null ? [] : [value];
  return list.filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null);
}

export function asRecord(value: unknown): Record<string, unknown> {
  const [first] = asList(value);
  if (!first) throw new Error("PowerShell printed no object");
  return first;
}

export const str = (value: unknown): string =>
  typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";

export const num = (value: unknown): number => {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : 0;
};

/**
 * Epoch milliseconds of a date as PowerShell prints it: ISO 8601 (what our commands ask for, and
 * PowerShell 7's ConvertTo-Json), Windows PowerShell 5.1's "/Date(1700000000000)/" (a DateTime it serialized
 * itself), or 5.1's wrapper object {value: "/Date(...)/", DateTime: "..."}. NaN when there is none.
 */
export function powerShellDate(value: unknown): number {
  if (typeof value === "object" && value !== null && "value" in value)
    return powerShellDate((value as { value: unknown }).value);
  const text = str(value);
  if (!text) return Number.NaN;
  const legacy = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/.exec(text);
  if (legacy) return Number(legacy[1]);
  return Date.parse(text);
}
