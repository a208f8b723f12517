// The latest software and service list of each host on PostgreSQL, shared by every server: the same rules
// as relevo.db's SoftwareStore (a list with items replaces the stored one when its hash differs and records
// what changed; a hash alone confirms it or marks it behind), each feed one transaction that locks the host's
// list rows, so two servers feeding one host take turns. Feeding never throws: the report is stored already.
import type { SQL } from "bun";
import { errorMessage } from "../../shared/errors.ts";
import { logger } from "../../shared/log.ts";
import type { ServiceItem, SoftwareItem } from "../../shared/report.ts";
import type {
  HostServicesAnswer,
  HostSoftwareAnswer,
  SoftwareChange,
  SoftwareHost,
} from "../../shared/software.ts";
import { compareVersions, schemeOf } from "../../shared/version-order.ts";
import { diffSoftware, type Entry } from "../software/diff.ts";
import type { ReportLists, SoftwareLists } from "../software/software-store.ts";
import { asUnavailable } from "./errors.ts";

const log = logger("software");
/** Rows per INSERT: 11 parameters each, under PostgreSQL's 65,535 per statement. */
const ROWS_PER_INSERT = 4000;

interface ListRow {
  hash: string;
  reported_hash: string;
  items: number;
  collected_at: string;
  changed_at: string;
  seen_at: string;
}

interface SoftwareRow {
  name: string;
  version: string;
  vendor: string;
  arch: string;
  source: string;
  user_name: string | null;
  install_date: string | null;
  size_bytes: string | null;
  extra: string | null;
}

const iso = (ms: string | number) => new Date(Number(ms)).toISOString();
type Tx = SQL;

export class PgSoftwareStore implements SoftwareLists {
  failures = 0;
  #inFlight = new Set<Promise<void>>();

  constructor(private readonly sql: SQL) {}

  feed(ip: string, lists: ReportLists, receivedAt: Date): Promise<void> {
    if (!lists.software && !lists.services) return Promise.resolve();
    const done = this.sql
      .begin((tx) => this.#feed(tx as unknown as Tx, ip, lists, receivedAt.getTime()))
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

  async idle(): Promise<void> {
    while (this.#inFlight.size) await Promise.all(this.#inFlight);
  }

  async #feed(tx: Tx, ip: string, lists: ReportLists, now: number): Promise<void> {
    const collected = Date.parse(lists.collectedAt);
    for (const name of ["software", "services"] as const) {
      const section = lists[name];
      if (!section) continue;
      const [row] = (await tx`SELECT hash, reported_hash, items, collected_at::text AS collected_at
        FROM host_lists WHERE ip = ${ip} AND list = ${name} FOR UPDATE`) as ListRow[];
      // A spooled report older than the stored list changes nothing.
      if (row && collected < Number(row.collected_at)) continue;
      if (section.items && section.hash !== row?.hash) {
        if (name === "software")
          await this.#replaceSoftware(tx, ip, section.items as SoftwareItem[], !!row, now);
        else await this.#replaceServices(tx, ip, section.items as ServiceItem[]);
        await tx`INSERT INTO host_lists (ip, list, hash, reported_hash, items, collected_at, changed_at, seen_at)
          VALUES (${ip}, ${name}, ${section.hash}, ${section.hash}, ${section.items.length}, ${collected}, ${now}, ${now})
          ON CONFLICT (ip, list) DO UPDATE SET hash = EXCLUDED.hash, reported_hash = EXCLUDED.reported_hash,
            items = EXCLUDED.items, collected_at = EXCLUDED.collected_at, changed_at = EXCLUDED.changed_at,
            seen_at = EXCLUDED.seen_at`;
      } else if (row) {
        await tx`UPDATE host_lists SET reported_hash = ${section.hash}, collected_at = ${collected},
          seen_at = CASE WHEN hash = ${section.hash} THEN ${now}::bigint ELSE seen_at END
          WHERE ip = ${ip} AND list = ${name}`;
      }
    }
  }

  async #replaceSoftware(
    tx: Tx,
    ip: string,
    items: SoftwareItem[],
    known: boolean,
    now: number,
  ): Promise<void> {
    const before = known ? ((await this.#softwareOf(tx, ip)) as SoftwareRow[]) : [];
    await tx`DELETE FROM host_software WHERE ip = ${ip}`;
    const after: Entry[] = [];
    const rows = items.map((item) => {
      const { name, version, vendor, arch, source, user, install_date, size_bytes, ...rest } = item;
      after.push({ name, version, arch, source, user: user ?? null });
      return {
        ip,
        name,
        name_key: name.toLowerCase(),
        version,
        vendor,
        arch,
        source,
        user_name: user ?? null,
        install_date,
        size_bytes,
        extra: Object.keys(rest).length ? JSON.stringify(rest) : null,
      };
    });
    for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) {
      await tx`INSERT INTO host_software ${tx(rows.slice(at, at + ROWS_PER_INSERT))}`;
    }
    // The first list of a host is its baseline, not a burst of installs.
    if (!known) return;
    const changes = diffSoftware(
      before.map((row) => ({
        name: row.name,
        version: row.version,
        arch: row.arch,
        source: row.source,
        user: row.user_name,
      })),
      after,
    ).map((change) => ({
      at: now,
      ip,
      change: change.change,
      name: change.name,
      arch: change.arch,
      source: change.source,
      user_name: change.user,
      old_version: change.old_version,
      new_version: change.new_version,
    }));
    for (let at = 0; at < changes.length; at += ROWS_PER_INSERT) {
      await tx`INSERT INTO software_changes ${tx(changes.slice(at, at + ROWS_PER_INSERT))}`;
    }
  }

  async #replaceServices(tx: Tx, ip: string, items: ServiceItem[]): Promise<void> {
    await tx`DELETE FROM host_services WHERE ip = ${ip}`;
    const rows = items.map((item) => ({ ip, name: item.name, item: JSON.stringify(item) }));
    for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) {
      await tx`INSERT INTO host_services ${tx(rows.slice(at, at + ROWS_PER_INSERT))}`;
    }
  }

  #softwareOf(sql: SQL, ip: string): Promise<SoftwareRow[]> {
    return sql`SELECT name, version, vendor, arch, source, user_name, install_date, size_bytes::text AS size_bytes, extra
      FROM host_software WHERE ip = ${ip} ORDER BY host_software.n` as Promise<SoftwareRow[]>;
  }

  async #state(ip: string, list: "software" | "services") {
    const [row] = (await this.sql`SELECT hash, reported_hash, items, changed_at::text AS changed_at,
      seen_at::text AS seen_at FROM host_lists WHERE ip = ${ip} AND list = ${list}`) as ListRow[];
    if (!row) return null;
    return {
      ip,
      hash: row.hash,
      changed_at: iso(row.changed_at),
      seen_at: iso(row.seen_at),
      current: row.hash === row.reported_hash,
      count: Number(row.items),
    };
  }

  async hostSoftware(ip: string): Promise<HostSoftwareAnswer | null> {
    return this.#read(async () => {
      const state = await this.#state(ip, "software");
      if (!state) return null;
      return { ...state, items: (await this.#softwareOf(this.sql, ip)).map(softwareItem) };
    });
  }

  async hostServices(ip: string): Promise<HostServicesAnswer | null> {
    return this.#read(async () => {
      const state = await this.#state(ip, "services");
      if (!state) return null;
      const rows = (await this
        .sql`SELECT item FROM host_services WHERE ip = ${ip} ORDER BY host_services.n`) as {
        item: string;
      }[];
      return { ...state, items: rows.map((row) => JSON.parse(row.item) as ServiceItem) };
    });
  }

  async search(name: string, versionLt: string | undefined, limit: number): Promise<SoftwareHost[]> {
    const rows = (await this.#read(
      () => this
        .sql`SELECT s.ip, s.name, s.version, s.arch, s.source, s.vendor, s.user_name, l.changed_at::text AS changed_at
        FROM host_software s JOIN host_lists l ON l.ip = s.ip AND l.list = 'software'
        WHERE s.name_key = ${name.toLowerCase()} ORDER BY s.ip, s.source, s.arch, s.n`,
    )) as Array<Omit<SoftwareHost, "changed_at" | "user"> & { user_name: string | null; changed_at: string }>;
    const hosts: SoftwareHost[] = [];
    for (const { user_name, changed_at, ...row } of rows) {
      if (versionLt !== undefined && compareVersions(row.version, versionLt, schemeOf(row.source)) >= 0)
        continue;
      hosts.push({ ...row, user: user_name, changed_at: iso(changed_at) } as SoftwareHost);
      if (hosts.length >= limit) break;
    }
    return hosts;
  }

  async changes(
    sinceMs: number,
    afterId: number,
    limit: number,
  ): Promise<{ changes: (SoftwareChange & { id: number })[]; truncated: boolean }> {
    const rows = (await this.#read(
      () => this
        .sql`SELECT id::text AS id, at::text AS at, ip, change, name, arch, source, user_name, old_version, new_version
        FROM software_changes WHERE at >= ${sinceMs} AND id > ${afterId} ORDER BY software_changes.id LIMIT ${limit + 1}`,
    )) as Array<Record<string, string | null>>;
    const truncated = rows.length > limit;
    return {
      changes: rows.slice(0, limit).map(({ id, at, user_name, ...row }) => ({
        id: Number(id),
        at: iso(at as string),
        ip: row.ip,
        change: row.change,
        name: row.name,
        arch: row.arch,
        source: row.source,
        user: user_name,
        old_version: row.old_version,
        new_version: row.new_version,
      })) as (SoftwareChange & { id: number })[],
      truncated,
    };
  }

  async #read<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw asUnavailable(error, "PostgreSQL");
    }
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
    size_bytes: row.size_bytes === null ? null : Number(row.size_bytes),
    source: row.source,
    ...(row.user_name !== null && { user: row.user_name }),
  };
}
