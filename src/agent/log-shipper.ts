// What `relevo-agent log` sends: entries made here (each with a UUID v7 entry_id, so a retry of the same
// batch is stored once), POSTed to /logs as gzip JSON lists. A batch the server does not take now (no answer,
// 5xx, 408, 429) goes to the agent's spool as a log batch, for `run` to send later; after the first such
// failure the rest go straight there. If a running agent holds the spool, the batch is handed over to it.
import { hostname } from "node:os";
import * as v from "valibot";
import { type LogEntryInput, LogEntrySchema, MAX_ENTRIES_PER_POST } from "../shared/logs.ts";
import { VERSION } from "../shared/version.ts";
import type { AgentLog } from "./_log.ts";
import { SpoolLockedError } from "./lock.ts";
import { createSender, type Send } from "./send.ts";
import { type AgentSettings, logsUrlOf } from "./settings.ts";
import { Spool } from "./spool.ts";

/** Lines of stdin per POST: well under the server's 10,000, small enough to spool and resend whole. */
export const BATCH_ENTRIES = 500;

export interface EntryFields {
  service: string;
  severity: string;
  message: string;
}

/** One entry as it goes on the wire, checked as the server will check it; a string says what is wrong. */
export function makeEntry(fields: EntryFields, now: number): LogEntryInput | string {
  const entry = {
    timestamp: new Date(now).toISOString(),
    service: fields.service,
    severity: fields.severity.toUpperCase() === "WARN" ? "WARNING" : fields.severity.toUpperCase(),
    message: fields.message,
    host: hostname(),
    entry_id: Bun.randomUUIDv7(),
  };
  const checked = v.safeParse(LogEntrySchema, entry);
  if (!checked.success) return v.summarize(checked.issues);
  return entry;
}

export class LogRefusedError extends Error {
  override name = "LogRefusedError";
}

export interface ShipperOptions {
  settings: AgentSettings & { uploadUrl: URL };
  ca?: string | undefined;
  now: () => number;
  log: AgentLog;
  fetch?: typeof fetch;
}

export class LogShipper {
  delivered = 0;
  kept = 0;
  private readonly send: Send;
  private away: string | undefined;
  private spool: Spool | undefined;
  private spoolHeld = false;

  constructor(private readonly options: ShipperOptions) {
    const { settings } = options;
    this.send = createSender({
      url: logsUrlOf(settings.uploadUrl),
      token: settings.token,
      timeoutMs: settings.timeoutS * 1000,
      ca: options.ca,
      userAgent: `relevo-agent/${VERSION}`,
      now: options.now,
      fetch: options.fetch,
    });
  }

  /** Delivers or keeps one batch; throws LogRefusedError when the server refuses it (nothing is kept). */
  async ship(entries: LogEntryInput[]): Promise<void> {
    if (!entries.length) return;
    if (entries.length > MAX_ENTRIES_PER_POST) throw new Error("a batch is larger than the server takes");
    const body = Bun.gzipSync(JSON.stringify(entries));
    if (this.away === undefined) {
      const outcome = await this.send(body);
      if (outcome.kind === "delivered") {
        this.delivered += entries.length;
        return;
      }
      if (outcome.kind === "rejected") {
        throw new LogRefusedError(
          `the server refused ${entries.length} entr${entries.length === 1 ? "y" : "ies"} (${outcome.status} ${outcome.code}: ${outcome.message})`,
        );
      }
      this.away = outcome.reason;
    }
    await this.keep(entries[0]?.entry_id ?? "logs", body);
    this.kept += entries.length;
  }

  /** Why the server was not reached, once it was not. */
  get awayReason(): string | undefined {
    return this.away;
  }

  private async keep(id: string, body: Uint8Array): Promise<void> {
    const { settings, now, log } = this.options;
    if (!this.spool && !this.spoolHeld) {
      try {
        this.spool = await Spool.open({
          dir: settings.spoolDir,
          maxReports: settings.spoolMaxReports,
          maxBytes: settings.spoolMaxBytes,
          now,
          log,
        });
      } catch (error) {
        if (!(error instanceof SpoolLockedError)) throw error;
        // The agent running on this host has the spool: it adopts hand-overs at its next delivery.
        this.spoolHeld = true;
      }
    }
    if (this.spool) {
      const { stored } = await this.spool.add(id, body, "logs");
      if (!stored)
        throw new Error(`a batch of log entries is larger than the whole spool ${settings.spoolDir}`);
    } else await Spool.handOff(settings.spoolDir, id, body, "logs", now());
  }

  async close(): Promise<void> {
    await this.spool?.close();
  }
}
