// The paged, sorted, filtered fleet behind GET /hosts?limit=…: computed from the in-memory summaries on each
// request (10,000 hosts filter and sort in a few milliseconds), so a browser never holds the whole fleet.
import type { HostPage, HostQuery, HostRow, HostSortKey } from "../../shared/fleet-api.ts";
import type { HostSummary } from "../store/types.ts";

/** The label a host's OS is counted and filtered under: its own name, else its platform. */
export function osLabel(summary: HostSummary): string {
  return summary.os.name || summary.os.platform || "unknown";
}

export function toRow(summary: HostSummary, now: number, silentAfterMs: number): HostRow {
  const { total_bytes, available_bytes } = summary.memory;
  const seen = Date.parse(summary.last_seen);
  return {
    ip: summary.ip,
    hostname: summary.hostname,
    fqdn: summary.fqdn,
    os: summary.os,
    cpu_load_percent: summary.cpu_load_percent,
    memory: summary.memory,
    // Summaries rebuilt from files written before this field existed have none.
    disk_used_percent: summary.disk_used_percent ?? null,
    users: summary.users,
    process_count: summary.process_count,
    last_seen: summary.last_seen,
    agent_version: summary.agent_version,
    agent_id: summary.agent_id,
    memory_used_percent:
      total_bytes > 0 ? Math.round(((total_bytes - available_bytes) / total_bytes) * 1000) / 10 : null,
    silent: !Number.isFinite(seen) || now - seen > silentAfterMs,
  };
}

/** IPv4 addresses sort by number (10.0.0.9 before 10.0.0.10); IPv6 after them, as text. */
function ipKey(ip: string): string {
  const parts = ip.split(".");
  if (parts.length !== 4) return `~${ip}`;
  return parts.map((part) => part.padStart(3, "0")).join(".");
}

type Key = string | number;
const SORT_KEY: Record<HostSortKey, (row: HostRow) => Key> = {
  hostname: (row) => row.hostname.toLowerCase(),
  ip: (row) => ipKey(row.ip),
  os: (row) => `${row.os.name} ${row.os.version}`.toLowerCase(),
  cpu: (row) => row.cpu_load_percent,
  memory: (row) => row.memory_used_percent ?? -1,
  disk: (row) => row.disk_used_percent ?? -1,
  users: (row) => row.users.length,
  processes: (row) => row.process_count,
  agent_version: (row) => row.agent_version,
  last_seen: (row) => row.last_seen,
};

function matches(row: HostRow, needle: string): boolean {
  if (!needle) return true;
  const hay = [row.hostname, row.fqdn, row.ip, row.os.name, row.os.version, row.agent_version, ...row.users];
  return hay.some((text) => text.toLowerCase().includes(needle));
}

export function hostPage(
  summaries: HostSummary[],
  query: HostQuery,
  now: number,
  silentAfterMs: number,
): HostPage {
  const rows = summaries.map((summary) => toRow(summary, now, silentAfterMs));
  const byOs = new Map<string, number>();
  let silent = 0;
  for (const [i, row] of rows.entries()) {
    const label = osLabel(summaries[i] as HostSummary);
    byOs.set(label, (byOs.get(label) ?? 0) + 1);
    if (row.silent) silent++;
  }
  const needle = (query.q ?? "").trim().toLowerCase();
  const chosen = rows.filter(
    (row, i) =>
      (query.os === undefined || osLabel(summaries[i] as HostSummary) === query.os) &&
      (query.state === undefined || row.silent === (query.state === "silent")) &&
      matches(row, needle),
  );
  const key = SORT_KEY[query.sort];
  const sign = query.order === "desc" ? -1 : 1;
  // Keys computed once per row, ties broken by IP so pages never overlap or skip a host.
  const keyed = chosen.map((row) => ({ row, key: key(row), ip: ipKey(row.ip) }));
  keyed.sort((a, b) => {
    if (a.key !== b.key) return (a.key < b.key ? -1 : 1) * sign;
    return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0;
  });
  const page = keyed.slice(query.offset, query.offset + query.limit).map((one) => one.row);
  return {
    count: page.length,
    total: chosen.length,
    offset: query.offset,
    limit: query.limit,
    silent_after_s: Math.round(silentAfterMs / 1000),
    counts: {
      hosts: rows.length,
      silent,
      os: [...byOs].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count),
    },
    hosts: page,
  };
}
