// The operations parts around the store, wired once for `serve`: the metrics' gauges, and (with --alerts)
// the alert engine, which hears every stored report and keeps its state in relevo.db or PostgreSQL.

import { UsageError } from "../shared/cli.ts";
import type { AlertState } from "./alerts/alert-db.ts";
import { AlertEngine } from "./alerts/engine.ts";
import { observeAppends } from "./alerts/observed-store.ts";
import { type AlertsFile, AlertsFileError, readAlertsFile } from "./alerts/rules.ts";
import type { Logs } from "./logs/log-store.ts";
import type { ServerMetrics } from "./metrics/server-metrics.ts";
import type { Store } from "./store/types.ts";

/** The rules of --alerts FILE, checked; a UsageError names every problem. */
export function readAlerts(file: string | undefined): AlertsFile | null {
  if (file === undefined) return null;
  try {
    return readAlertsFile(file);
  } catch (error) {
    if (error instanceof AlertsFileError) throw new UsageError(error.message);
    throw error;
  }
}

interface OpsParts {
  store: Store;
  logs: Logs;
  /** Where the alerts keep their state (opened only with --alerts). */
  alertState: AlertState | null;
  alertsFile: AlertsFile | null;
  /** The report interval agents are asked for (ms): silence is counted in it. */
  intervalMs: number;
  metricsPerHost: number;
  clock: () => Date;
}

export interface OpenOps {
  metrics: ServerMetrics;
  alerts: AlertEngine | null;
  /** The store the app uses (the alert engine hears its appends). */
  store: Store;
  start(): void;
  close(): Promise<void>;
}

export function openOps(metrics: ServerMetrics, parts: OpsParts): OpenOps {
  const { store, logs, alertState, alertsFile, clock } = parts;
  metrics.attach({
    store,
    logs,
    silentAfterMs: 3 * parts.intervalMs,
    clock,
    perHostCap: parts.metricsPerHost,
  });
  const alerts =
    alertsFile && alertState
      ? new AlertEngine({
          file: alertsFile,
          db: alertState,
          store,
          clock,
          defaultIntervalMs: parts.intervalMs,
        })
      : null;
  if (alerts) registerAlertMetrics(metrics, alerts);
  return {
    metrics,
    alerts,
    store: alerts ? observeAppends(store, (ip, json) => alerts.observe(ip, json)) : store,
    start: () => alerts?.start(),
    close: async () => {
      await alerts?.stop();
    },
  };
}

function registerAlertMetrics(metrics: ServerMetrics, alerts: AlertEngine): void {
  const r = metrics.registry;
  r.gauge("relevo_alerts_firing", "Alerts firing now, by rule", async () => {
    const counts = new Map<string, number>(alerts.rules.map((rule) => [rule.name, 0]));
    for (const row of (await alerts.list()).firing) counts.set(row.rule, (counts.get(row.rule) ?? 0) + 1);
    return [...counts].map(([rule, value]) => ({ labels: { rule }, value }));
  });
  r.gauge("relevo_alert_deliveries_pending", "Webhook deliveries waiting (or retrying)", () =>
    alerts.deliverer.pendingCount(),
  );
  r.register("relevo_alert_deliveries_total", "Webhook delivery outcomes since start", "counter", () => {
    const { sent, failedAttempts, dropped } = alerts.deliverer.counts;
    return [
      { labels: { outcome: "sent" }, value: sent },
      { labels: { outcome: "failed_attempt" }, value: failedAttempts },
      { labels: { outcome: "dropped" }, value: dropped },
    ];
  });
}
