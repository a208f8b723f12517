// The numbers a threshold rule may test, read from one report: the host summary's numbers (cpu load,
// memory, process count) and the few a fleet alerts on that need a little arithmetic (memory available as a
// percentage, the fullest disk). Each returns null when the report does not carry it: no alert either way.

type Loose = Record<string, unknown>;
const obj = (value: unknown): Loose => (typeof value === "object" && value !== null ? (value as Loose) : {});
const num = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) ? value : null;
const percent = (part: number | null, whole: number | null): number | null =>
  part === null || whole === null || whole <= 0 ? null : (part / whole) * 100;

export interface FieldValue {
  value: number;
  /** What the value belongs to, for the message (the disk's mount point). */
  detail?: string;
}

type Read = (report: Loose) => FieldValue | null;
const plain =
  (read: (report: Loose) => number | null): Read =>
  (report) => {
    const value = read(report);
    return value === null ? null : { value };
  };

/** The fullest disk (used / size), and its mount point. */
function fullestDisk(report: Loose): FieldValue | null {
  let worst: FieldValue | null = null;
  for (const disk of Array.isArray(report.disks) ? report.disks : []) {
    const d = obj(disk);
    const used = percent(num(d.used_bytes), num(d.size_bytes));
    if (used !== null && (worst === null || used > worst.value)) {
      worst = { value: used, detail: typeof d.mount === "string" ? d.mount.slice(0, 256) : "" };
    }
  }
  return worst;
}

export const FIELDS: Record<string, Read> = {
  "cpu.load_percent": plain((r) => num(obj(r.cpu).load_percent)),
  "cpu.load_avg_1": plain((r) => {
    const avg = obj(r.cpu).load_avg;
    return Array.isArray(avg) ? num(avg[0]) : null;
  }),
  "memory.available_bytes": plain((r) => num(obj(r.memory).available_bytes)),
  "memory.available_percent": plain((r) =>
    percent(num(obj(r.memory).available_bytes), num(obj(r.memory).total_bytes)),
  ),
  "memory.swap_used_percent": plain((r) =>
    percent(num(obj(r.memory).swap_used_bytes), num(obj(r.memory).swap_total_bytes)),
  ),
  "processes.total": plain((r) => num(obj(r.processes).total)),
  "disks.used_percent": fullestDisk,
  "os.uptime_s": plain((r) => num(obj(r.os).uptime_s)),
};

export function readField(field: string, report: unknown): FieldValue | null {
  return FIELDS[field]?.(obj(report)) ?? null;
}
