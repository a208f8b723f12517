// The real app with central logs on a real relevo.db in a temporary data directory (or, given a backend, on
// that backend: PostgreSQL), for app.request().
import { createApp } from "../../src/server/app.ts";
import type { AuthOptions } from "../../src/server/auth/guard.ts";
import type { Logs } from "../../src/server/logs/log-store.ts";
import { type OpenLogs, openLogs } from "../../src/server/logs/open.ts";
import { openFileStore } from "../../src/server/store/file-store.ts";
import type { TestBackend } from "./backends.ts";
import { tempDir } from "./server.ts";

export interface LogsSetup {
  dir: string;
  /** relevo.db's parts (the default backend only). */
  logs: OpenLogs;
  /** The log store of whichever backend. */
  logStore: Logs;
  app: ReturnType<typeof createApp>;
  post(body: RequestInit["body"], headers?: Record<string, string>): Promise<Response>;
  get(query: string): Promise<Response>;
  /** Every stored entry, oldest id first, straight from the database. */
  stored(): Promise<{ id: number; message: string; service: string }[]>;
  close(): Promise<void>;
}

export interface LogsSetupOptions {
  clock?: () => Date;
  retentionDays?: number;
  maxBytes?: number;
  maxBody?: number;
  /** Given the data directory (tokens live there); default: no checks. */
  auth?: (dir: string) => AuthOptions;
  /** Another backend than relevo.db (its logs and store; tokens still in `dir`). */
  backend?: TestBackend;
}

export async function setupLogs(options: LogsSetupOptions = {}): Promise<LogsSetup> {
  if (options.backend && options.backend.name !== "file") return setupOn(options.backend, options);
  const dir = tempDir("relevo-logs-");
  const clock = options.clock ?? (() => new Date());
  const store = await openFileStore({ dir, clock });
  const logs = openLogs(dir, {
    retentionDays: options.retentionDays ?? 0,
    maxBytes: options.maxBytes ?? 0,
    clock,
  });
  return finish(dir, store, logs.store, options, clock, logs, async () => {
    await logs.close();
    await store.close();
  });
}

async function setupOn(backend: TestBackend, options: LogsSetupOptions): Promise<LogsSetup> {
  const dir = tempDir("relevo-logs-");
  const clock = options.clock ?? (() => new Date());
  const opened = await backend.open({ clock, retentionDays: options.retentionDays ?? 0 });
  return finish(dir, opened.store, opened.logs, options, clock, null, () => opened.close());
}

function finish(
  dir: string,
  store: Parameters<typeof createApp>[0]["store"],
  logStore: Logs,
  options: LogsSetupOptions,
  clock: () => Date,
  logs: OpenLogs | null,
  close: () => Promise<void>,
): LogsSetup {
  // Spread only when given: an explicit undefined would override createApp's defaults.
  const app = createApp({
    store,
    logs: logStore,
    version: "test",
    clock,
    ...(options.maxBody ? { maxBody: options.maxBody } : {}),
    ...(options.auth ? { auth: options.auth(dir) } : {}),
  });
  const env = { ip: "127.0.0.1" };
  return {
    dir,
    logs: logs as OpenLogs,
    logStore,
    app,
    post: async (body, headers = { "content-type": "application/json" }) =>
      app.request("/logs", { method: "POST", body, headers }, env),
    get: async (query) => app.request(`/logs${query ? `?${query}` : ""}`, {}, env),
    stored: async () =>
      (await logStore.query({ limit: 10_000, offset: 0, order: "asc", total: false })).logs.map((l) => ({
        id: l.id,
        message: l.message,
        service: l.service,
      })),
    close,
  };
}

export const entry = (overrides: Record<string, unknown> = {}) => ({
  timestamp: "2025-08-27T10:00:00Z",
  service: "reports",
  severity: "INFO",
  message: "Hola logs",
  ...overrides,
});
