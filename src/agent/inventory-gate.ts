// Sends the software and service lists only when the server needs them. Every report carries each list's
// hash; the items go along when the hash differs from the one last *delivered* with items, when this agent
// process has delivered none yet (a start), and when the last delivered list is a day old. A report that
// carried items counts only once the server acknowledged it (directly or later from the spool), so a list
// lost with a refused or dropped report is sent again.
import type { Report } from "../shared/report.ts";

const LISTS = ["software", "services"] as const;
type ListName = (typeof LISTS)[number];

export const FULL_LIST_EVERY_MS = 86_400_000;
/** Reports with items waiting for an acknowledgement (spooled while the server was away), at most. */
const MAX_PENDING = 1_000;

interface Sent {
  hash: string;
  at: number;
}

export class InventoryGate {
  #delivered = new Map<ListName, Sent>();
  /** report id → the hashes whose items it carries. */
  #pending = new Map<string, Partial<Record<ListName, string>>>();

  constructor(
    private readonly now: () => number,
    private readonly everyMs: number = FULL_LIST_EVERY_MS,
  ) {}

  /** The report as it should be sent: each list's items left out when the server has that list already. */
  shape(report: Report): Report {
    let shaped = report;
    const carried: Partial<Record<ListName, string>> = {};
    for (const name of LISTS) {
      const list = report[name];
      if (!list?.items) continue;
      const last = this.#delivered.get(name);
      if (last && last.hash === list.hash && this.now() - last.at < this.everyMs) {
        const { items: _sent, ...hashOnly } = list;
        shaped = { ...shaped, [name]: hashOnly };
      } else carried[name] = list.hash;
    }
    if (Object.keys(carried).length) {
      this.#pending.set(report.report_id, carried);
      if (this.#pending.size > MAX_PENDING) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#pending.delete(oldest);
      }
    }
    return shaped;
  }

  /** The server acknowledged this report (201, or 200 for one it had already). */
  delivered(reportId: string): void {
    const carried = this.#pending.get(reportId);
    if (!carried) return;
    this.#pending.delete(reportId);
    for (const name of LISTS) {
      const hash = carried[name];
      if (hash) this.#delivered.set(name, { hash, at: this.now() });
    }
  }

  /** The server will not store this report (refused): its lists count as never sent. */
  dropped(reportId: string): void {
    this.#pending.delete(reportId);
  }
}
