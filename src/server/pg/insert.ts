// The one statement that stores reports on PostgreSQL, for uploads (a group at a time) and for import: the
// elements into their day partitions (a stored key is skipped, so a retry or a second import stores
// nothing), their day rows' counts, and each host's latest summary. One statement is one transaction.
import type { SQL } from "bun";
import type { HostSummary } from "../store/types.ts";
import { sqlState } from "./errors.ts";

/** One element ready for its row: `element` is the day-file line exactly. */
export interface ElementRow {
  day: string;
  ip: string;
  /** As sent; the key is its lower case. */
  reportId: string;
  receivedAt: string;
  element: string;
  summary: HostSummary;
}

/** Text PostgreSQL takes: no NUL characters (a summary string is whatever a client sent). */
const clean = (text: string) => (text.includes("\0") ? text.replaceAll("\0", "") : text);

/** Stores what is new among `rows`; returns the "ip id" keys (id in lower case) it stored. */
export async function insertElements(sql: SQL, rows: readonly ElementRow[]): Promise<Set<string>> {
  if (!rows.length) return new Set();
  // Rows in key order, so two servers writing the same hosts lock their rows in the same order.
  const sorted = [...rows].sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  const values = sorted.map((row) => {
    const s = row.summary;
    return {
      day: row.day,
      source_ip: row.ip,
      report_id: row.reportId.toLowerCase(),
      received_at: row.receivedAt,
      element: row.element,
      hostname: clean(s.hostname),
      os_platform: clean(s.os.platform),
      cpu_load_percent: s.cpu_load_percent,
      memory_total_bytes: s.memory.total_bytes,
      memory_available_bytes: s.memory.available_bytes,
      process_count: s.process_count,
      agent_version: clean(s.agent_version),
      agent_id: s.agent_id === null ? null : clean(s.agent_id),
    };
  });
  const ips = sorted.map((row) => row.ip);
  const ids = sorted.map((row) => row.reportId.toLowerCase());
  const seen = sorted.map((row) => row.receivedAt);
  const summaries = sorted.map((row) => JSON.stringify(row.summary).replaceAll("\\u0000", ""));
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await sql`
        WITH ins AS (
          INSERT INTO reports ${sql(values)}
          ON CONFLICT DO NOTHING
          RETURNING source_ip, day, report_id, octet_length(element) AS bytes
        ), days AS (
          INSERT INTO report_days (source_ip, day, reports, element_bytes)
          SELECT source_ip, day, count(*), sum(bytes) FROM ins GROUP BY source_ip, day ORDER BY source_ip, day
          ON CONFLICT (source_ip, day) DO UPDATE SET
            reports = report_days.reports + EXCLUDED.reports,
            element_bytes = report_days.element_bytes + EXCLUDED.element_bytes
        ), latest AS (
          SELECT DISTINCT ON (v.ip) v.ip, v.seen, v.summary
          FROM unnest(${sql.array(ips, "TEXT")}::text[], ${sql.array(ids, "TEXT")}::text[],
                      ${sql.array(seen, "TEXT")}::text[], ${sql.array(summaries, "TEXT")}::text[])
            WITH ORDINALITY AS v(ip, id, seen, summary, ord)
          JOIN ins ON ins.source_ip = v.ip AND ins.report_id = v.id
          ORDER BY v.ip, v.seen DESC, v.ord DESC
        ), up AS (
          INSERT INTO hosts (source_ip, last_seen, summary)
          SELECT ip, seen, summary FROM latest ORDER BY ip
          ON CONFLICT (source_ip) DO UPDATE SET last_seen = EXCLUDED.last_seen, summary = EXCLUDED.summary
            WHERE hosts.last_seen <= EXCLUDED.last_seen
        )
        SELECT source_ip, report_id FROM ins`;
      return new Set(
        (result as Array<{ source_ip: string; report_id: string }>).map(
          (row) => `${row.source_ip} ${row.report_id}`,
        ),
      );
    } catch (error) {
      // A deadlock or serialization failure against another server's group: nothing was stored, go again.
      if (attempt < 3 && (sqlState(error) === "40P01" || sqlState(error) === "40001")) continue;
      throw error;
    }
  }
}
