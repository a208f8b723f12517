// The paged, sorted, filtered fleet behind GET /hosts?limit=…: computed from the in-memory summaries on each
// request (10,000 hosts filter and sort in a few milliseconds), so a browser never holds the whole fleet.
import type { HostPage, HostQuery, HostRow, HostSortKey, HostSummary } from "../../shared/fleet-api.ts";

/** The label a host's OS is counted and filtered under: its own name, else its platform. */
export function osLabel(summary: HostSummary): string {
  return summary.os.name || summary.os.platform || "unknown";
}

export function toRow(summary: HostSummary, now: number, silentAfterMs: number): HostRow {
  const seen = Date.parse(summary.last_seen);
  const { last_report_id: _, ...shown } = summary;
  return {
    ...shown,
    // Summaries rebuilt from files written before this field existed have none.
    disk_used_percent: summary.disk_used_percent ?? null,
    memory_used_percent: memoryUsed(summary),
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
const SORT_KEY: Record<HostSortKey, (host: HostSummary) => Key> = {
  hostname: (host) => host.hostname.toLowerCase(),
  ip: (host) => ipKey(host.ip),
  os: (host) => `${host.os.name} ${host.os.version}`.toLowerCase(),
  cpu: (host) => host.cpu_load_percent,
  memory: (host) => memoryUsed(host) ?? -1,
  disk: (host) => host.disk_used_percent ?? -1,
  users: (host) => host.users.length,
  processes: (host) => host.process_count,
  agent_version: (host) => host.agent_version,
  last_seen: (host) => host.last_seen,
};

function memoryUsed({ memory: { total_bytes, available_bytes } }: HostSummary): number | null {
  return total_bytes > 0 ? Math.round(((total_bytes - available_bytes) / total_bytes) * 1000) / 10 : null;
}

function matches(host: HostSummary, needle: string): boolean {
  if (!needle) return true;
  const hay = [
    host.hostname,
    host.fqdn,
    host.ip,
    host.os.name,
    host.os.version,
    host.agent_version,
    ...host.users,
  ];
  return hay.some((text) => text.toLowerCase().includes(needle));
}

/**
 * One page of the fleet. Only the page's hosts become rows; the rest is compared as stored. last_seen is
 * the server's own ISO 8601 UTC time, so "silent" is a string comparison.
 */
export function hostPage(
  summaries: HostSummary[],
  query: HostQuery,
  now: number,
  silentAfterMs: number,
): HostPage {
  const cutoff = new Date(now - silentAfterMs).toISOString();
  const isSilent = (host: HostSummary) => !(host.last_seen >= cutoff);
  const byOs = new Map<string, number>();
  let silent = 0;
  for (const host of summaries) {
    const label = osLabel(host);
    byOs.set(label, (byOs.get(label) ?? 0) + 1);
    if (isSilent(host)) silent++;
  }
  const needle = (query.q ?? "").trim().toLowerCase();
  const wantSilent = query.state === undefined ? null : query.state === "silent";
  const key = SORT_KEY[query.sort];
  const keyed: { host: HostSummary; key: Key; ip: string }[] = [];
  for (const host of summaries) {
    if (query.os !== undefined && osLabel(host) !== query.os) continue;
    if (wantSilent !== null && isSilent(host) !== wantSilent) continue;
    if (!matches(host, needle)) continue;
    keyed.push({ host, key: key(host), ip: ipKey(host.ip) });
  }
  const sign = query.order === "desc" ? -1 : 1;
  // Ties broken by IP so pages never overlap or skip a host.
  keyed.sort((a, b) => {
    if (a.key !== b.key) return (a.key < b.key ? -1 : 1) * sign;
    return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0;
  });
  const page = keyed
    .slice(query.offset, query.offset + query.limit)
    .map((one) => toRow(one.host, now, silentAfterMs));
  return {
    count: page.length,
    total: keyed.length,
    offset: query.offset,
    limit: query.limit,
    silent_after_s: Math.round(silentAfterMs / 1000),
    counts: {
      hosts: summaries.length,
      silent,
      os: [...byOs].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count),
    },
    hosts: page,
  };
}
