// The per-host line of the fleet overview, cut from a stored report: small, so thousands fit in memory.
import type { HostSummary } from "./types.ts";

type Loose = Record<string, unknown>;
const obj = (value: unknown): Loose => (typeof value === "object" && value !== null ? (value as Loose) : {});
const str = (value: unknown): string => (typeof value === "string" ? value : "");
const num = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);

/** Works on a validated report or on an element read back from disk (which may come from an older agent). */
export function summarize(element: unknown, ip: string): HostSummary {
  const report = obj(element);
  const host = obj(report.host);
  const os = obj(report.os);
  const memory = obj(report.memory);
  const users = Array.isArray(report.users) ? report.users : [];
  return {
    ip,
    hostname: str(host.hostname),
    fqdn: str(host.fqdn),
    os: { platform: str(os.platform), name: str(os.name), version: str(os.version) },
    cpu_load_percent: num(obj(report.cpu).load_percent),
    memory: { total_bytes: num(memory.total_bytes), available_bytes: num(memory.available_bytes) },
    users: [...new Set(users.map((user) => str(obj(user).name)).filter(Boolean))],
    process_count: num(obj(report.processes).total),
    last_seen: str(report.received_at),
    last_report_id: str(report.report_id),
    agent_version: str(obj(report.agent).version),
    agent_id: str(obj(report.agent).id) || null,
  };
}
