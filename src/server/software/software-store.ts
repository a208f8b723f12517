// The latest software and service list of each host in relevo.db, fed from every accepted report (upload or
// inventory) after it is stored in its day file. A report that carries items replaces the host's list when
// its hash differs (and records what changed); one that carries only the hash confirms the list or, when the
// hash is new, marks it as behind until the items arrive. Feeding never throws: the report is stored
// already, so a failure here is logged and counted, never turned into a failed upload.
import type { Database } from "bun:sqlite";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { ServiceItem, Services, Software, SoftwareItem } from "../../shared/report.ts";
import type {
  HostServicesAnswer,
  HostSoftwareAnswer,
  SoftwareChange,
  SoftwareHost,
} from "../../shared/software.ts";
import { compareVersions, schemeOf } from "../../shared/version-order.ts";
import type { GroupCommit } from "../db/group-commit.ts";
import { diffSoftware, type Entry } from "./diff.ts";

const log = logger("software");

export interface ReportLists {
  collectedAt: string;
  software?: Software | undefined;
  services?: Services | undefined;
}

type ListName = "software" | "services";

interface ListRow {
  hash: string;
  reported_hash: string;
  items: number;
  collected_at: number;
  changed_at: number;
  seen_at: number;
}

interface SoftwareRow {
  name: string;
  version: string;
  vendor: string;
  arch: string;
  source: string;
  user: string | null;
  install_date: string | null;
  size_bytes: number | null;
  extra: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Prepared once: a list of 3,000 packages runs the insert 3,000 times. */
function statements(db: Database) {
  return {
    list: db.prepare(
      "SELECT hash, reported_hash, items, collected_at, changed_at, seen_at FROM host_lists WHERE ip = ? AND list = ?",
    ),
    upsertList: db.prepare(
      `INSERT INTO host_lists (ip, list, hash, reported_hash, items, collected_at, changed_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (ip, list) DO UPDATE SET hash = excluded.hash, reported_hash = excluded.reported_hash, items = excluded.items,
           collected_at = excluded.collected_at, changed_at = excluded.changed_at, seen_at = excluded.seen_at`,
    ),
    confirm: db.prepare(
      "UPDATE host_lists SET reported_hash = ?1, collected_at = ?2, seen_at = CASE WHEN hash = ?1 THEN ?3 ELSE seen_at END WHERE ip = ?4 AND list = ?5",
    ),
    softwareOf: db.prepare(
      "SELECT name, version, vendor, arch, source, user, install_date, size_bytes, extra FROM host_software WHERE ip = ? ORDER BY rowid",
    ),
    deleteSoftware: db.prepare("DELETE FROM host_software WHERE ip = ?"),
    insertSoftware: db.prepare(
      "INSERT INTO host_software (ip, name, name_key, version, vendor, arch, source, user, install_date, size_bytes, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    servicesOf: db.prepare("SELECT item FROM host_services WHERE ip = ? ORDER BY rowid"),
    deleteServices: db.prepare("DELETE FROM host_services WHERE ip = ?"),
    insertService: db.prepare("INSERT INTO host_services (ip, name, item) VALUES (?, ?, ?)"),
    insertChange: db.prepare(
      "INSERT INTO software_changes (at, ip, change, name, arch, source, user, old_version, new_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
  };
}

/** What the routes and the feed need, from relevo.db (SoftwareStore) or PostgreSQL (PgSoftwareStore). */
export interface SoftwareLists {
  /** Reports whose lists could not be stored (logged each time). */
  readonly failures: number;
  /** Stores the report's lists; resolves once committed or failed (never rejects). */
  feed(ip: string, lists: ReportLists, receivedAt: Date): Promise<void>;
  idle(): Promise<void>;
  hostSoftware(ip: string): HostSoftwareAnswer | null | Promise<HostSoftwareAnswer | null>;
  hostServices(ip: string): HostServicesAnswer | null | Promise<HostServicesAnswer | null>;
  search(
    name: string,
    versionLt: string | undefined,
    limit: number,
  ): SoftwareHost[] | Promise<SoftwareHost[]>;
  changes(
    sinceMs: number,
    afterId: number,
    limit: number,
  ):
    | { changes: (SoftwareChange & { id: number })[]; truncated: boolean }
    | Promise<{ changes: (SoftwareChange & { id: number })[]; truncated: boolean }>;
}

export class SoftwareStore implements SoftwareLists {
  /** Reports whose lists could not be stored (logged each time). */
  failures = 0;
  #inFlight = new Set<Promise<void>>();
  readonly #sql: ReturnType<typeof statements>;

  constructor(
    private readonly db: Database,
    /** null: write directly (tests, tools); the server passes relevo.db's group commit. */
    private readonly writer: GroupCommit | null,
  ) {
    this.#sql = statements(db);
  }

  /** Stores the report's lists; resolves once committed or failed (never rejects). */
  feed(ip: string, lists: ReportLists, receivedAt: Date): Promise<void> {
    if (!lists.software && !lists.services) return Promise.resolve();
    const work = () => this.#feed(ip, lists, receivedAt.getTime());
    const done = (
      this.writer
        ? this.writer.run(work)
        : Promise.resolve().then(() => this.db.transaction(work).immediate())
    )
      .catch((error) => {
        this.failures++;
        log.error(
          `the software and service lists of ${ip} were not stored (the report was): ${errorMessage(error)}`,
        );
      })
      .finally(() => this.#inFlight.delete(done));
    this.#inFlight.add(done);
    return done;
  }

  /** Resolves once every feed started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#inFlight.size) await Promise.all(this.#inFlight);
  }

  #feed(ip: string, lists: ReportLists, now: number): void {
    const collected = Date.parse(lists.collectedAt);
    for (const name of ["software", "services"] as const) {
      const section = lists[name];
      if (!section) continue;
      const row = this.#sql.list.get(ip, name) as ListRow | null;
      // A spooled report older than the stored list changes nothing.
      if (row && collected < row.collected_at) continue;
      if (section.items && section.hash !== row?.hash) {
        if (name === "software")
          this.#replaceSoftware(ip, section.items as SoftwareItem[], row !== null, now);
        else this.#replaceServices(ip, section.items as ServiceItem[]);
        this.#sql.upsertList.run(
          ip,
          name,
          section.hash,
          section.hash,
          section.items.length,
          collected,
          now,
          now,
        );
      } else if (row) {
        this.#sql.confirm.run(section.hash, collected, now, ip, name);
      }
    }
  }

  #replaceSoftware(ip: string, items: SoftwareItem[], known: boolean, now: number): void {
    const before = known ? (this.#sql.softwareOf.all(ip) as SoftwareRow[]) : [];
    this.#sql.deleteSoftware.run(ip);
    const after: Entry[] = [];
    for (const item of items) {
      const { name, version, vendor, arch, source, user, install_date, size_bytes, ...rest } = item;
      this.#sql.insertSoftware.run(
        ip,
        name,
        name.toLowerCase(),
        version,
        vendor,
        arch,
        source,
        user ?? null,
        install_date,
        size_bytes,
        Object.keys(rest).length ? JSON.stringify(rest) : null,
      );
      after.push({ name, version, arch, source, user: user ?? null });
    }
    // The first list of a host is its baseline, not a burst of installs.
    if (!known) return;
    for (const change of diffSoftware(before, after)) {
      this.#sql.insertChange.run(
        now,
        ip,
        change.change,
        change.name,
        change.arch,
        change.source,
        change.user,
        change.old_version,
        change.new_version,
      );
    }
  }

  #replaceServices(ip: string, items: ServiceItem[]): void {
    this.#sql.deleteServices.run(ip);
    for (const item of items) this.#sql.insertService.run(ip, item.name, JSON.stringify(item));
  }

  #state(ip: string, list: ListName) {
    const row = this.#sql.list.get(ip, list) as ListRow | null;
    if (!row) return null;
    return {
      ip,
      hash: row.hash,
      changed_at: iso(row.changed_at),
      seen_at: iso(row.seen_at),
      current: row.hash === row.reported_hash,
      count: row.items,
    };
  }

  hostSoftware(ip: string): HostSoftwareAnswer | null {
    const state = this.#state(ip, "software");
    if (!state) return null;
    const items = (this.#sql.softwareOf.all(ip) as SoftwareRow[]).map(softwareItem);
    return { ...state, items };
  }

  hostServices(ip: string): HostServicesAnswer | null {
    const state = this.#state(ip, "services");
    if (!state) return null;
    const items = (this.#sql.servicesOf.all(ip) as { item: string }[]).map(
      (row) => JSON.parse(row.item) as ServiceItem,
    );
    return { ...state, items };
  }

  /** Every host with a package of this name (any case), at a version older than `versionLt` if given. */
  search(name: string, versionLt: string | undefined, limit: number): SoftwareHost[] {
    const rows = this.db
      .query(
        `SELECT s.ip, s.name, s.version, s.arch, s.source, s.vendor, s.user, l.changed_at
         FROM host_software s JOIN host_lists l ON l.ip = s.ip AND l.list = 'software'
         WHERE s.name_key = ? ORDER BY s.ip, s.source, s.arch, s.rowid`,
      )
      .all(name.toLowerCase()) as (Omit<SoftwareHost, "changed_at"> & { changed_at: number })[];
    const hosts: SoftwareHost[] = [];
    for (const row of rows) {
      if (versionLt !== undefined && compareVersions(row.version, versionLt, schemeOf(row.source)) >= 0)
        continue;
      hosts.push({ ...row, changed_at: iso(row.changed_at) });
      if (hosts.length >= limit) break;
    }
    return hosts;
  }

  /** Changes seen at or after `sinceMs` with an id above `afterId` (the cursor of the previous page), in order. */
  changes(
    sinceMs: number,
    afterId: number,
    limit: number,
  ): { changes: (SoftwareChange & { id: number })[]; truncated: boolean } {
    const rows = this.db
      .query(
        `SELECT id, at, ip, change, name, arch, source, user, old_version, new_version FROM software_changes
         WHERE at >= ?1 AND id > ?2 ORDER BY id LIMIT ?3`,
      )
      .all(sinceMs, afterId, limit + 1) as (Omit<SoftwareChange, "at"> & { id: number; at: number })[];
    const truncated = rows.length > limit;
    return { changes: rows.slice(0, limit).map((row) => ({ ...row, at: iso(row.at) })), truncated };
  }
}

function softwareItem(row: SoftwareRow): SoftwareItem {
  return {
    ...(row.extra ? (JSON.parse(row.extra) as Record<string, unknown>) : {}),
    name: row.name,
    version: row.version,
    vendor: row.vendor,
    arch: row.arch,
    install_date: row.install_date,
    size_bytes: row.size_bytes,
    source: row.source,
    ...(row.user !== null && { user: row.user }),
  };
}
