// The numbers of one host's day for the charts, computed while the day body streams past: one element line
// is parsed at a time (a day of 5-minute reports is ~70 MB; memory stays one line plus the numbers).
// Works on any store's readDay answer, since every backend returns the day-file layout (one element a line).
// A day only grows by appends (bytes before the closing "\n]\n" never change), so a scan can go on from
// where the previous one stopped: only reports received since are parsed again.
import { SERIES_FIELDS, type SeriesAnswer, type SeriesField } from "../../shared/fleet-api.ts";

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

const NEWLINE = 10;

interface Line {
  text: string;
  /** Byte offset just past the line's text (before its newline), from the start of the body. */
  end: number;
}

/**
 * Each line of a day body from byte `skip` on, as text with where it ends. Newlines are found in the bytes
 * and only whole lines are decoded: a report line is ~250 KB, spread over several chunks.
 */
async function* lines(body: ReadableStream<Uint8Array>, skip: number): AsyncGenerator<Line> {
  const decoder = new TextDecoder();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let offset = 0; // of the chunk's first byte
  for await (const whole of body) {
    const chunkStart = offset;
    offset += whole.length;
    if (offset <= skip) continue;
    const chunk = chunkStart < skip ? whole.subarray(skip - chunkStart) : whole;
    const base = Math.max(chunkStart, skip);
    let start = 0;
    let newline = chunk.indexOf(NEWLINE);
    while (newline !== -1) {
      const piece = chunk.subarray(start, newline);
      const text = pendingBytes
        ? decoder.decode(Buffer.concat([...pending, piece], pendingBytes + piece.length))
        : decoder.decode(piece);
      pending = [];
      pendingBytes = 0;
      yield { text, end: base + newline };
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
    }
  }
  if (pendingBytes) yield { text: decoder.decode(Buffer.concat(pending, pendingBytes)), end: offset };
}

/** What a scan of a day found: every field's numbers, and where the last parsed element ended. */
export interface DayScan {
  /** Byte offset just past the text of the last element parsed (its "," or "\n" may change later). */
  consumed: number;
  /** Bytes the body had when scanned. */
  bytes: number;
  t: number[];
  /** One column per SERIES_FIELDS entry. */
  columns: (number | null)[][];
}

const emptyScan = (): DayScan => ({ consumed: 0, bytes: 0, t: [], columns: SERIES_FIELDS.map(() => []) });

/**
 * Scans a day body, going on from `previous` when given (the same day, scanned when it was shorter). The
 * body must be the whole day again; its first `previous.consumed` bytes are read past, not parsed.
 */
export async function scanDay(
  body: ReadableStream<Uint8Array> | string,
  previous?: DayScan | null,
): Promise<DayScan> {
  const stream = typeof body === "string" ? new Blob([body]).stream() : body;
  const scan = previous
    ? { ...previous, t: [...previous.t], columns: previous.columns.map((column) => [...column]) }
    : emptyScan();
  let total = scan.consumed;
  for await (const { text: raw, end } of lines(stream, scan.consumed)) {
    total = Math.max(total, end + 1);
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
    scan.t.push(at / 1000); // seconds with milliseconds: two reports in one second stay apart
    SERIES_FIELDS.forEach((field, i) => {
      scan.columns[i]?.push(EXTRACT[field](report));
    });
    scan.consumed = raw.endsWith(",") ? end - 1 : end;
  }
  scan.bytes = total;
  return scan;
}

/** The answer for some fields of a scan, averaged into at most `maxPoints` points. */
export function seriesAnswer(
  scan: DayScan,
  { ip, date, fields, maxPoints }: { ip: string; date: string; fields: SeriesField[]; maxPoints: number },
): SeriesAnswer {
  const chosen = fields.map((field) => scan.columns[SERIES_FIELDS.indexOf(field)] ?? []);
  const reports = scan.t.length;
  const [times, values] = reports > maxPoints ? buckets(scan.t, chosen, maxPoints) : [scan.t, chosen];
  return {
    ip,
    date,
    reports,
    fields,
    t: times,
    values: Object.fromEntries(fields.map((field, i) => [field, (values[i] ?? []).map(round)])),
  };
}

/** Scans and answers at once (no earlier scan to go on from). */
export async function daySeries(
  body: ReadableStream<Uint8Array> | string,
  request: { ip: string; date: string; fields: SeriesField[]; maxPoints: number },
): Promise<SeriesAnswer> {
  return seriesAnswer(await scanDay(body), request);
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
