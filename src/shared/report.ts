// The report, schema version 1: one definition shared by the agent (which builds and checks it before
// sending) and the server (which validates every upload with it). Objects are loose so a newer agent's extra
// fields survive an older server; every string, list and number is bounded so one report cannot be abused.
import * as v from "valibot";

export const SCHEMA_VERSION = 1;

/** Limits a report must respect; the agent trims to them, the server rejects beyond them. */
export const LIMITS = {
  shortText: 256,
  text: 1024,
  command: 4096,
  processes: 20_000,
  users: 1_000,
  disks: 512,
  interfaces: 512,
  addresses: 256,
  errors: 64,
  gateways: 64,
  nameservers: 32,
  blockDevices: 512,
  accounts: 4_096,
  groups: 4_096,
  members: 1_024,
  software: 20_000,
  services: 4_096,
} as const;

const text = (max: number = LIMITS.shortText) => v.pipe(v.string(), v.maxLength(max));
// One check action instead of integer + minValue + maxValue: a report holds thousands of these numbers and
// validation is most of the server's work per upload.
const count = v.pipe(
  v.number(),
  v.check((n: number) => Number.isSafeInteger(n) && n >= 0, "Invalid number: expected a whole number from 0"),
);
const bytes = count;
const ratio = (max: number) =>
  v.pipe(
    v.number(),
    v.check((n: number) => n >= 0 && n <= max, `Invalid number: expected a finite number from 0 to ${max}`),
  );
const list = <T extends v.GenericSchema>(item: T, max: number) => v.pipe(v.array(item), v.maxLength(max));
/** valibot's isoTimestamp() is syntactic (it takes 2026-02-30): the day must exist in its month. */
export function isCalendarDay(text: string): boolean {
  // Digits read in place: this runs for every process of every report, and slicing cost a tenth of intake.
  const y = digitsAt(text, 0, 4);
  const m = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = m === 2 && leap ? 29 : (DAYS_IN_MONTH[m - 1] ?? 0);
  return d >= 1 && d <= days;
}
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** The number `count` decimal digits at `at` spell, or -1 if one is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}
const timestamp = v.pipe(
  v.string(),
  v.maxLength(64),
  v.isoTimestamp(),
  v.check(isCalendarDay, "Invalid timestamp: that day does not exist in its month"),
);
/** A time the host reported but that may be unknown (a process start time on a host with a broken clock). */
const optionalTimestamp = v.nullable(timestamp);

export const AgentInfoSchema = v.looseObject({
  version: text(64),
  id: v.nullable(text(128)),
});

export const HostSchema = v.looseObject({
  hostname: text(),
  fqdn: text(),
  ips: list(text(64), LIMITS.addresses),
});

export const OsSchema = v.looseObject({
  platform: text(32),
  name: text(),
  version: text(),
  build: text(),
  kernel: text(),
  arch: text(32),
  uptime_s: count,
});

export const CpuSchema = v.looseObject({
  manufacturer: text(),
  model: text(),
  speed_ghz: ratio(1_000),
  cores: count,
  physical_cores: count,
  // null when the load could not be measured (no earlier sample, or the counters could not be read).
  load_percent: v.nullable(ratio(100)),
  load_avg: list(ratio(1e6), 3),
});

export const MemorySchema = v.looseObject({
  total_bytes: bytes,
  available_bytes: bytes,
  swap_total_bytes: bytes,
  swap_used_bytes: bytes,
});

export const UserSessionSchema = v.looseObject({
  name: text(),
  terminal: text(),
  host: text(),
  login_at: optionalTimestamp,
});

export const ProcessSchema = v.looseObject({
  pid: count,
  ppid: count,
  name: text(),
  user: text(),
  // Percent of one CPU over the last sampling interval, as top shows it: up to 100 per core.
  cpu_percent: ratio(100 * 4096),
  memory_rss_bytes: bytes,
  started_at: optionalTimestamp,
  command: text(LIMITS.command),
  // As the OS names it ("running", "sleeping", "zombie"...); agents before it did not send it.
  state: v.optional(text(32)),
});

export const ProcessesSchema = v.looseObject({
  total: count,
  list: list(ProcessSchema, LIMITS.processes),
});

export const DiskSchema = v.looseObject({
  mount: text(LIMITS.text),
  fs: text(),
  size_bytes: bytes,
  used_bytes: bytes,
  // What a non-root user can still write (df's Avail): less than size - used by the reserved blocks.
  // Optional: agents before it did not send it.
  available_bytes: v.optional(bytes),
});

export const NetworkAddressSchema = v.looseObject({
  address: text(64),
  prefix: v.pipe(
    v.number(),
    v.check((n: number) => Number.isInteger(n) && n >= 0 && n <= 128, "Invalid prefix: expected 0 to 128"),
  ),
});

export const NetworkInterfaceSchema = v.looseObject({
  name: text(),
  mac: text(64),
  ipv4: list(text(64), LIMITS.addresses),
  ipv6: list(text(64), LIMITS.addresses),
  // Newer agents (optional, so older reports still pass): each address with its prefix length, the
  // kernel's operstate, link speed in Mb/s (null when down or unknown), MTU, and whether it is a
  // software interface (bridge, veth, tunnel) rather than a NIC.
  addresses: v.optional(list(NetworkAddressSchema, LIMITS.addresses)),
  state: v.optional(text(32)),
  speed_mbps: v.optional(v.nullable(count)),
  mtu: v.optional(v.nullable(count)),
  virtual: v.optional(v.nullable(v.boolean())),
});

export const SystemSchema = v.looseObject({
  manufacturer: text(),
  model: text(),
  serial: text(),
  uuid: text(),
});

export const GatewaySchema = v.looseObject({
  address: text(64),
  interface: text(),
  metric: count,
});

/** Default gateways of both families and the resolver's servers and search domains. */
export const NetworkConfigSchema = v.looseObject({
  gateways: list(GatewaySchema, LIMITS.gateways),
  dns_servers: list(text(64), LIMITS.nameservers),
  dns_search: list(text(), LIMITS.nameservers),
});

export const BlockDeviceSchema = v.looseObject({
  name: text(),
  /** disk, loop, dm (device mapper: LVM, LUKS), md (software RAID), rom, zram, nbd, mmc. */
  type: text(32),
  size_bytes: bytes,
  model: text(),
  vendor: text(),
  serial: text(),
  rotational: v.nullable(v.boolean()),
  removable: v.nullable(v.boolean()),
});

export const AccountSchema = v.looseObject({
  name: text(),
  uid: count,
  gid: count,
  home: text(LIMITS.text),
  shell: text(LIMITS.text),
  /** No password login (`!` or `*` in the shadow file, as `passwd -S` says L); null when it cannot be read. */
  locked: v.nullable(v.boolean()),
  last_login_at: optionalTimestamp,
});

export const GroupSchema = v.looseObject({
  name: text(),
  gid: count,
  members: list(text(), LIMITS.members),
});

/** Local accounts and groups (the host's own files, not the directory's). */
export const AccountsSchema = v.looseObject({
  users: list(AccountSchema, LIMITS.accounts),
  groups: list(GroupSchema, LIMITS.groups),
});

/** One installed package, program, app or hotfix; `source` says which database listed it. */
export const SoftwareItemSchema = v.looseObject({
  name: text(),
  version: text(),
  vendor: text(),
  arch: text(32),
  install_date: optionalTimestamp,
  size_bytes: v.nullable(bytes),
  /** dpkg, rpm, apk, pacman, snap, flatpak; registry, registry-wow64, registry-user, appx, hotfix; inventory. */
  source: text(32),
  /** The account of a per-user install (Windows HKU / NTUSER.DAT, Appx), absent for machine-wide ones. */
  user: v.optional(text()),
});

/** `hash` always (SHA-256 of the sorted list); `items` when it changed, after a start and once a day. */
export const SoftwareSchema = v.looseObject({
  hash: text(128),
  items: v.optional(list(SoftwareItemSchema, LIMITS.software)),
});

export const ServiceItemSchema = v.looseObject({
  name: text(),
  display_name: text(),
  /** systemd ActiveState (active, inactive, failed...) or the Windows State (running, stopped...). */
  state: text(32),
  /** systemd SubState (running, exited, dead...); absent on Windows. */
  sub_state: v.optional(text(32)),
  /** enabled, disabled, static, masked (systemd UnitFileState); auto, manual, disabled (Windows). */
  start_mode: text(32),
  account: text(),
  pid: v.nullable(count),
  path: v.optional(text(LIMITS.text)),
});

export const ServicesSchema = v.looseObject({
  hash: text(128),
  items: v.optional(list(ServiceItemSchema, LIMITS.services)),
  /** Why there is no list: no service manager to ask (a container without systemd). */
  unavailable: v.optional(text(LIMITS.text)),
});

/** The IT-monitoring guide's domain block plus how the host is joined (`kind`). */
export const DomainSchema = v.looseObject({
  is_domain_joined: v.boolean(),
  domain_name: text(),
  workgroup: text(),
  domain_controller: text(),
  /** ad, aad (Entra ID), hybrid (both), workgroup (Windows); sssd, winbind, kerberos (Linux); none. */
  kind: text(32),
  forest: v.optional(text()),
  /** The Kerberos realm (Linux). */
  realm: v.optional(text()),
  /** Entra ID tenant (dsregcmd). */
  tenant_name: v.optional(text()),
});

export const CollectorErrorSchema = v.looseObject({
  collector: text(64),
  message: text(LIMITS.text),
});

export const ReportSchema = v.looseObject({
  schema_version: v.literal(SCHEMA_VERSION),
  report_id: v.pipe(v.string(), v.uuid()),
  collected_at: timestamp,
  agent: AgentInfoSchema,
  host: HostSchema,
  os: OsSchema,
  cpu: CpuSchema,
  memory: MemorySchema,
  users: list(UserSessionSchema, LIMITS.users),
  processes: ProcessesSchema,
  disks: list(DiskSchema, LIMITS.disks),
  network: list(NetworkInterfaceSchema, LIMITS.interfaces),
  system: SystemSchema,
  // Optional sections of newer agents: validated when present, absent from older reports.
  network_config: v.optional(NetworkConfigSchema),
  block_devices: v.optional(list(BlockDeviceSchema, LIMITS.blockDevices)),
  accounts: v.optional(AccountsSchema),
  software: v.optional(SoftwareSchema),
  services: v.optional(ServicesSchema),
  domain: v.optional(DomainSchema),
  errors: list(CollectorErrorSchema, LIMITS.errors),
});

export type Report = v.InferOutput<typeof ReportSchema>;
export type OsInfo = v.InferOutput<typeof OsSchema>;
export type CpuInfo = v.InferOutput<typeof CpuSchema>;
export type MemoryInfo = v.InferOutput<typeof MemorySchema>;
export type UserSession = v.InferOutput<typeof UserSessionSchema>;
export type ProcessInfo = v.InferOutput<typeof ProcessSchema>;
export type DiskInfo = v.InferOutput<typeof DiskSchema>;
export type NetworkInterface = v.InferOutput<typeof NetworkInterfaceSchema>;
export type NetworkAddress = v.InferOutput<typeof NetworkAddressSchema>;
export type SystemInfo = v.InferOutput<typeof SystemSchema>;
export type CollectorError = v.InferOutput<typeof CollectorErrorSchema>;
export type NetworkConfig = v.InferOutput<typeof NetworkConfigSchema>;
export type Gateway = v.InferOutput<typeof GatewaySchema>;
export type BlockDevice = v.InferOutput<typeof BlockDeviceSchema>;
export type Accounts = v.InferOutput<typeof AccountsSchema>;
export type Account = v.InferOutput<typeof AccountSchema>;
export type Group = v.InferOutput<typeof GroupSchema>;
export type SoftwareItem = v.InferOutput<typeof SoftwareItemSchema>;
export type Software = v.InferOutput<typeof SoftwareSchema>;
export type ServiceItem = v.InferOutput<typeof ServiceItemSchema>;
export type Services = v.InferOutput<typeof ServicesSchema>;
export type Domain = v.InferOutput<typeof DomainSchema>;

/** One schema violation, as the server's 422 lists it: where (a dot path) and what. */
export interface ReportIssue {
  path: string;
  message: string;
}

export type ReportCheck = { ok: true; report: Report } | { ok: false; issues: ReportIssue[] };

// The process list is most of a report (thousands of entries) and valibot's generic object walk costs about
// 1.5 µs per entry, most of the server's CPU per upload. So the list is first checked by isValidProcess, the
// same rules as ProcessSchema written out by hand (a property test in test/shared holds the two equal);
// anything it does not accept goes through the full schema, which alone says what is wrong and where.

/** valibot's own rule for v.isoTimestamp(). */
const ISO_TIMESTAMP =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:[12]\d|0[1-9]|3[01])[T ](?:0\d|1\d|2[0-3])(?::[0-5]\d){2}(?:\.\d{1,9})?(?:Z| ?[+-](?:0\d|1\d|2[0-3])(?::?[0-5]\d)?)$/u;
const isCount = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
const isText = (s: unknown, max: number) => typeof s === "string" && s.length <= max;

/** True only for what ProcessSchema accepts unchanged (prototype keys, which it strips, are left to it). */
export function isValidProcess(input: unknown): boolean {
  if (typeof input !== "object" || input === null) return false;
  if (
    Object.hasOwn(input, "__proto__") ||
    Object.hasOwn(input, "constructor") ||
    Object.hasOwn(input, "prototype")
  ) {
    return false;
  }
  const p = input as Record<string, unknown>;
  const cpu = p.cpu_percent;
  const started = p.started_at;
  return (
    isCount(p.pid) &&
    isCount(p.ppid) &&
    isText(p.name, LIMITS.shortText) &&
    isText(p.user, LIMITS.shortText) &&
    typeof cpu === "number" &&
    cpu >= 0 &&
    cpu <= 100 * 4096 &&
    isCount(p.memory_rss_bytes) &&
    (started === null ||
      (isText(started, 64) && ISO_TIMESTAMP.test(started as string) && isCalendarDay(started as string))) &&
    isText(p.command, LIMITS.command) &&
    (p.state === undefined || isText(p.state, 32))
  );
}

const ReportWithListUncheckedSchema = v.looseObject({
  ...ReportSchema.entries,
  processes: v.looseObject({ ...ProcessesSchema.entries, list: list(v.unknown(), LIMITS.processes) }),
});

/** Validates anything against the report schema; never throws. Lists at most `maxIssues` problems. */
export function checkReport(input: unknown, maxIssues = 50): ReportCheck {
  const fast = v.safeParse(ReportWithListUncheckedSchema, input, { abortEarly: true });
  if (fast.success && fast.output.processes.list.every(isValidProcess)) {
    return { ok: true, report: fast.output as Report };
  }
  const result = v.safeParse(ReportSchema, input, { abortEarly: false });
  if (result.success) return { ok: true, report: result.output };
  return {
    ok: false,
    issues: result.issues.slice(0, maxIssues).map((issue) => ({
      path: v.getDotPath(issue) ?? "",
      message: issue.message,
    })),
  };
}
