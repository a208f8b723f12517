// The numbers of one host's day for the charts, computed while the day body streams past: one element line
// is parsed at a time (a day of 5-minute reports is ~70 MB; memory stays one line plus the numbers).
// Works on any store's readDay answer, since every backend returns the day-file layout (one element a line).
import type { SeriesAnswer, SeriesField } from "../../shared/fleet-api.ts";

type Loose = Record<string, unknown>;
const obj = (value: unknown): Loose => (typeof value === "object" && value !== null ? (value as Loose) : {});
const num = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) ? value : null;
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

const EXTRACT: Record<SeriesField, (report: Loose) => number | null> = {
  "cpu.load_percent": (r) => num(obj(r.cpu).load_percent),
  "memory.available_bytes": (r) => num(obj(r.memory).available_bytes),
  "memory.total_bytes": (r) => num(obj(r.memory).total_bytes),
  "memory.swap_used_bytes": (r) => num(obj(r.memory).swap_used_bytes),
  "processes.total": (r) => num(obj(r.processes).total),
  "disks.max_used_percent": (r) => {
    let fullest: number | null = null;
    for (const disk of list(r.disks)) {
      const used = num(obj(disk).used_bytes) ?? 0;
      const available = num(obj(disk).available_bytes);
      const room = available !== null ? used + available : (num(obj(disk).size_bytes) ?? 0);
      if (room > 0) fullest = Math.max(fullest ?? 0, (used / room) * 100);
    }
    return fullest;
  },
  "disks.used_bytes": (r) => {
    const disks = list(r.disks);
    return disks.length
      ? disks.reduce<number>((sum, disk) => sum + (num(obj(disk).used_bytes) ?? 0), 0)
      : null;
  },
  "users.count": (r) => (Array.isArray(r.users) ? r.users.length : null),
};

/** Each element line of a day body (`[`, `]` and separators dropped), as text. */
async function* elementLines(body: ReadableStream<Uint8Array> | string): AsyncGenerator<string> {
  const chunks: Iterable<string> | AsyncIterable<Uint8Array> = typeof body === "string" ? [body] : body;
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of chunks) {
    rest += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let newline = rest.indexOf("\n");
    while (newline !== -1) {
      yield rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      newline = rest.indexOf("\n");
    }
  }
  yield rest + decoder.decode();
}

export async function daySeries(
  body: ReadableStream<Uint8Array> | string,
  { ip, date, fields, maxPoints }: { ip: string; date: string; fields: SeriesField[]; maxPoints: number },
): Promise<SeriesAnswer> {
  const t: number[] = [];
  const columns = fields.map(() => [] as (number | null)[]);
  for await (const raw of elementLines(body)) {
    const line = raw.endsWith(",") ? raw.slice(0, -1) : raw;
    if (!line.startsWith("{")) continue;
    let report: Loose;
    try {
      report = obj(JSON.parse(line));
    } catch {
      continue; // a damaged line is the store's to report, not the chart's
    }
    const at = Date.parse(typeof report.received_at === "string" ? report.received_at : "");
    if (!Number.isFinite(at)) continue;
    t.push(Math.round(at / 1000));
    fields.forEach((field, i) => {
      columns[i]?.push(EXTRACT[field](report));
    });
  }
  const reports = t.length;
  const [times, values] = reports > maxPoints ? buckets(t, columns, maxPoints) : [t, columns];
  return {
    ip,
    date,
    reports,
    fields,
    t: times,
    values: Object.fromEntries(fields.map((field, i) => [field, (values[i] ?? []).map(round)])),
  };
}

const round = (value: number | null) => (value === null ? null : Math.round(value * 100) / 100);

/** Averages consecutive points into at most `max` buckets (the chart cannot show more than its pixels). */
function buckets(t: number[], columns: (number | null)[][], max: number): [number[], (number | null)[][]] {
  const size = Math.ceil(t.length / max);
  const times: number[] = [];
  const out = columns.map(() => [] as (number | null)[]);
  for (let start = 0; start < t.length; start += size) {
    const end = Math.min(t.length, start + size);
    times.push(t[start] as number);
    columns.forEach((column, i) => {
      let sum = 0;
      let n = 0;
      for (let k = start; k < end; k++) {
        const value = column[k];
        if (value !== null && value !== undefined) {
          sum += value;
          n++;
        }
      }
      out[i]?.push(n ? sum / n : null);
    });
  }
  return [times, out];
}
