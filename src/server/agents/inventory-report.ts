// An inventory of the integration guide, as a schema-1 report: the guide's fields mapped where they
// correspond (hostname, processor, memory, disk, system, software, domain), the rest empty or unknown, and
// the guide's body kept whole under `inventory`, so /query, /hosts and the dashboard read it like any report.
import { createHash } from "node:crypto";
import type { Inventory } from "../../shared/agents.ts";
import { LIMITS, SCHEMA_VERSION, type Software, type SoftwareItem } from "../../shared/report.ts";

const GIB = 1024 ** 3;
const gib = (value: number | null | undefined) => (value ? Math.round(value * GIB) : 0);
const str = (value: unknown) => (typeof value === "string" ? value : "");
const count = (value: unknown) =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : 0;

const clip = (value: string, max: number = LIMITS.shortText) => value.slice(0, max);

/** The guide's install_date, when it is a real day or time; its agents write many formats. */
function installDate(value: string | null | undefined): string | null {
  if (!value || !/^\d{4}-\d{2}-\d{2}/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** The guide's software block as report.software: items from source `inventory`, hashed as the agent does. */
function softwareOf(software: Inventory["software"]): Software {
  const items: SoftwareItem[] = software.installed_software.slice(0, LIMITS.software).map((item) => ({
    name: clip(item.name),
    version: clip(item.version ?? ""),
    vendor: clip(item.publisher ?? ""),
    arch: "",
    install_date: installDate(item.install_date),
    size_bytes: null,
    source: "inventory",
  }));
  items.sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.version < b.version ? -1 : a.version > b.version ? 1 : 0,
  );
  return { hash: createHash("sha256").update(JSON.stringify(items)).digest("hex"), items };
}

/** The OS family the guide names ("Windows"), as report.os.platform names it (process.platform). */
function platformOf(osType: string): string {
  const lower = osType.toLowerCase();
  if (lower.startsWith("win")) return "win32";
  if (lower.startsWith("mac") || lower === "darwin") return "darwin";
  return lower.slice(0, 32);
}

export interface InventoryContext {
  agentId: number;
  agentVersion: string;
  /** The agent's record: the OS it registered with. */
  osType: string;
  osVersion: string;
  reportId: string;
  receivedAt: Date;
  ip: string;
}

function collectedAt(timestamp: string, receivedAt: Date): string {
  const ms = Date.parse(timestamp);
  // An agent's clock may be wrong or its timestamp unparseable: the time we received it stands in then.
  return Number.isFinite(ms) ? new Date(ms).toISOString() : receivedAt.toISOString();
}

export function inventoryReport(
  body: Inventory,
  ctx: InventoryContext,
): Record<string, unknown> & {
  report_id: string;
} {
  const { hardware, software, domain } = body;
  const domainName = domain.is_domain_joined ? str(domain.domain_name) : "";
  const fqdn = domainName && !body.hostname.includes(".") ? `${body.hostname}.${domainName}` : body.hostname;
  const diskBytes = gib(hardware.total_disk_gb);
  return {
    schema_version: SCHEMA_VERSION,
    report_id: ctx.reportId,
    collected_at: collectedAt(body.timestamp, ctx.receivedAt),
    agent: { version: ctx.agentVersion, id: String(ctx.agentId) },
    host: { hostname: body.hostname, fqdn: fqdn.slice(0, 256), ips: [ctx.ip] },
    os: {
      platform: platformOf(ctx.osType),
      name: ctx.osType,
      version: ctx.osVersion,
      build: "",
      kernel: "",
      arch: "",
      uptime_s: 0,
    },
    cpu: {
      manufacturer: "",
      model: str(hardware.processor),
      speed_ghz: 0,
      cores: count(hardware.cpu_cores),
      physical_cores: count(hardware.physical_cores ?? hardware.cpu_cores),
      load_percent: null,
      load_avg: [],
    },
    memory: {
      total_bytes: gib(hardware.ram_gb),
      available_bytes: 0,
      swap_total_bytes: 0,
      swap_used_bytes: 0,
    },
    users: [],
    processes: { total: 0, list: [] },
    // The guide gives one total for all disks: one entry, with no mount point, holds it.
    disks: diskBytes ? [{ mount: "", fs: "", size_bytes: diskBytes, used_bytes: 0 }] : [],
    network: [],
    system: {
      manufacturer: str(hardware.manufacturer),
      model: str(hardware.model),
      serial: str(hardware.serial_number),
      uuid: "",
    },
    software: softwareOf(software),
    domain: {
      is_domain_joined: domain.is_domain_joined,
      domain_name: clip(domainName),
      workgroup: clip(str(domain.workgroup)),
      domain_controller: clip(str(domain.domain_controller)),
      kind: domain.is_domain_joined
        ? platformOf(ctx.osType) === "win32"
          ? "ad"
          : "realm"
        : str(domain.workgroup)
          ? "workgroup"
          : "none",
    },
    inventory: body,
    errors: [],
  };
}
