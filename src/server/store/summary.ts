// The per-host line of the fleet overview, cut from a stored report: small, so thousands fit in memory.
import type { HostSummary } from "./types.ts";

/** Bounds, so that one summary per source address stays small whatever a client sends. */
export const SUMMARY_LIMITS = { users: 32, userLength: 64, stringLength: 256 } as const;

type Loose = Record<string, unknown>;
const obj = (value: unknown): Loose => (typeof value === "object" && value !== null ? (value as Loose) : {});
const str = (value: unknown, max: number = SUMMARY_LIMITS.stringLength): string =>
  typeof value === "string" ? value.slice(0, max) : "";
const num = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);

/** Works on a validated report or on an element read back from disk (which may come from an older agent). */
export function summarize(element: unknown, ip: string): HostSummary {
  const report = obj(element);
  const host = obj(report.host);
  const os = obj(report.os);
  const memory = obj(report.memory);
  const users = new Set<string>();
  for (const user of Array.isArray(report.users) ? report.users : []) {
    if (users.size >= SUMMARY_LIMITS.users) break;
    const name = str(obj(user).name, SUMMARY_LIMITS.userLength);
    if (name) users.add(name);
  }
  return {
    ip,
    hostname: str(host.hostname),
    fqdn: str(host.fqdn),
    os: { platform: str(os.platform), name: str(os.name), version: str(os.version) },
    cpu_load_percent: num(obj(report.cpu).load_percent),
    memory: { total_bytes: num(memory.total_bytes), available_bytes: num(memory.available_bytes) },
    disk_used_percent: fullestDisk(report.disks),
    users: [...users],
    process_count: num(obj(report.processes).total),
    last_seen: str(report.received_at),
    last_report_id: str(report.report_id),
    agent_version: str(obj(report.agent).version),
    agent_id: str(obj(report.agent).id) || null,
  };
}

/** The highest used share of any disk, as df computes it: used / (used + available), else used / size. */
function fullestDisk(disks: unknown): number | null {
  let fullest: number | null = null;
  for (const disk of Array.isArray(disks) ? disks : []) {
    const { used_bytes, available_bytes, size_bytes } = obj(disk);
    const used = num(used_bytes);
    const room = typeof available_bytes === "number" ? used + num(available_bytes) : num(size_bytes);
    if (room <= 0) continue;
    const share = Math.round((used / room) * 1000) / 10;
    if (fullest === null || share > fullest) fullest = share;
  }
  return fullest;
}
