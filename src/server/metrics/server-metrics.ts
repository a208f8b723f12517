// The relevo metric set: request counts and latencies by declared route, journal fsyncs, the store, the
// central logs and relevo.db, hosts known and silent, agents by version, and the process itself. Label
// values come from small fixed sets (route templates, status codes, methods) or are capped (versions, hosts).
import type { Logs } from "../logs/log-store.ts";
import type { JournalObserver } from "../store/journal-writer.ts";
import type { HostSummary, Store } from "../store/types.ts";
import type { Sample } from "./exposition.ts";
import { type Counter, type Histogram, MetricsRegistry } from "./registry.ts";

/** Seconds: from a fast loopback answer to a slow body over a bad link. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
/** Agent versions exported one by one; the rest are summed as "other". */
export const MAX_VERSIONS = 20;

export interface MetricsSources {
  store: Store;
  logs: Logs | null;
  /** A host is silent once its newest report is older than this. */
  silentAfterMs: number;
  clock: () => Date;
  /** Per-host series for at most this many hosts (sorted by address); 0: none (the default). */
  perHostCap: number;
}

const METHODS = new Set(["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]);

export class ServerMetrics {
  readonly registry = new MetricsRegistry();
  readonly #requests: Counter;
  readonly #requestSeconds: Histogram;
  readonly #uploadSeconds: Histogram;
  readonly #fsyncSeconds: Histogram;
  readonly #batchRecords: Histogram;

  constructor(version: string) {
    const r = this.registry;
    r.gauge("relevo_build_info", "The running relevo-server version (always 1)", () => [
      { labels: { version }, value: 1 },
    ]);
    this.#requests = r.counter(
      "relevo_http_requests_total",
      "HTTP requests answered, by declared route, method and status",
    );
    this.#requestSeconds = r.histogram(
      "relevo_http_request_duration_seconds",
      "Time to answer an HTTP request (until the body starts), by declared route",
      LATENCY_BUCKETS,
    );
    this.#uploadSeconds = r.histogram(
      "relevo_upload_duration_seconds",
      "Time for an accepted POST /upload, body read through durable acknowledgement",
      LATENCY_BUCKETS,
    );
    this.#fsyncSeconds = r.histogram(
      "relevo_journal_fsync_duration_seconds",
      "Time of the one fdatasync that makes a batch of uploads durable",
      FSYNC_BUCKETS,
    );
    this.#batchRecords = r.histogram(
      "relevo_journal_batch_reports",
      "Reports made durable by one journal fsync",
      BATCH_BUCKETS,
    );
    registerProcess(this.registry);
  }

  /** Counts one answered request. `route` is the declared path template (never the raw URL). */
  request(route: string, method: string, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : "other";
    this.#requests.inc({ route, method: m, status: String(status) });
    this.#requestSeconds.observe(seconds, { route });
    if (route === "/upload" && method === "POST" && status < 300) this.#uploadSeconds.observe(seconds);
  }

  readonly journal: JournalObserver = {
    synced: (seconds, records) => {
      this.#fsyncSeconds.observe(seconds);
      this.#batchRecords.observe(records);
    },
  };

  /** The gauges read from the parts once they are open. */
  attach(sources: MetricsSources): void {
    const r = this.registry;
    const { store, logs } = sources;
    r.gauge("relevo_store_files", "Day files in the store", async () => (await store.health()).files);
    r.gauge("relevo_store_bytes", "Bytes in the store's day files", async () => {
      let bytes = 0;
      for (const file of await store.listFiles()) bytes += file.bytes;
      return bytes;
    });
    r.gauge("relevo_store_writable", "1 while the store takes uploads, 0 when it refuses them", async () =>
      (await store.health()).writable ? 1 : 0,
    );
    r.gauge(
      "relevo_store_damaged_lines",
      "Damaged lines set aside since start",
      async () => (await store.health()).damaged_lines,
    );
    if (logs) {
      r.gauge("relevo_log_entries", "Central log entries kept", async () => (await logs.health()).entries);
      r.gauge(
        "relevo_state_db_bytes",
        "Bytes of relevo.db in use (tables and indexes)",
        async () => (await logs.health()).bytes,
      );
    }
    const hosts = async () => await store.hosts();
    r.gauge(
      "relevo_hosts_known",
      "Hosts (source addresses) with a stored report",
      async () => (await hosts()).length,
    );
    r.gauge(
      "relevo_hosts_silent",
      "Known hosts whose newest report is older than the silence bound",
      async () => {
        const now = sources.clock().getTime();
        return (await hosts()).filter((host) => isSilent(host, now, sources.silentAfterMs)).length;
      },
    );
    r.gauge("relevo_agents_by_version", "Hosts by the agent version of their newest report", async () =>
      versionSamples(await hosts()),
    );
    if (sources.perHostCap > 0) registerPerHost(r, hosts, sources);
  }
}

export function isSilent(host: HostSummary, now: number, silentAfterMs: number): boolean {
  const seen = Date.parse(host.last_seen);
  return Number.isNaN(seen) || now - seen > silentAfterMs;
}

function versionSamples(hosts: readonly HostSummary[]): Sample[] {
  const counts = new Map<string, number>();
  for (const host of hosts) {
    const version = host.agent_version || "unknown";
    counts.set(version, (counts.get(version) ?? 0) + 1);
  }
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = sorted.slice(0, MAX_VERSIONS).map(([version, value]) => ({ labels: { version }, value }));
  const rest = sorted.slice(MAX_VERSIONS).reduce((sum, [, n]) => sum + n, 0);
  return rest ? [...shown, { labels: { version: "other" }, value: rest }] : shown;
}

function registerPerHost(
  r: MetricsRegistry,
  hosts: () => Promise<HostSummary[]>,
  sources: MetricsSources,
): void {
  const capped = async () =>
    (await hosts()).sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0)).slice(0, sources.perHostCap);
  r.gauge(
    "relevo_host_last_report_timestamp_seconds",
    "When the host's newest report arrived (per host, capped)",
    async () =>
      (await capped()).map((host) => ({
        labels: { ip: host.ip },
        value: Date.parse(host.last_seen) / 1000 || 0,
      })),
  );
  r.gauge(
    "relevo_host_cpu_load_percent",
    "CPU load of the host's newest report (per host, capped)",
    async () => (await capped()).map((host) => ({ labels: { ip: host.ip }, value: host.cpu_load_percent })),
  );
  r.gauge(
    "relevo_host_memory_available_bytes",
    "Available memory of the host's newest report (per host, capped)",
    async () =>
      (await capped()).map((host) => ({ labels: { ip: host.ip }, value: host.memory.available_bytes })),
  );
  r.gauge("relevo_metrics_hosts_omitted", "Hosts left out of the per-host series by the cap", async () =>
    Math.max(0, (await hosts()).length - sources.perHostCap),
  );
}

function registerProcess(r: MetricsRegistry): void {
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  r.register("process_cpu_seconds_total", "User and system CPU time of the server process", "counter", () => {
    const usage = process.cpuUsage();
    return [{ value: (usage.user + usage.system) / 1e6 }];
  });
  r.gauge(
    "process_resident_memory_bytes",
    "Resident memory of the server process",
    () => process.memoryUsage().rss,
  );
  r.gauge(
    "process_start_time_seconds",
    "When the server process started, seconds since the epoch",
    () => startSeconds,
  );
}
