// A synthetic fleet written straight into a data directory, in the day-file layout the server reads at
// start (the export format): thousands of hosts of several OSes, some silent, and busy days of 288 reports.
// The browser tests and `bun run bench ui` use it beside the reports of real agents.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { sampleReport } from "./report.ts";

const OSES = [
  { platform: "linux", name: "Debian GNU/Linux", version: "12" },
  { platform: "linux", name: "Ubuntu", version: "24.04" },
  { platform: "win32", name: "Microsoft Windows Server 2022 Standard", version: "10.0.20348" },
  { platform: "linux", name: "Rocky Linux", version: "9.5" },
];
const ROLES = ["web", "db", "app", "cache", "build", "mail"];

export const SILENT_EVERY = 10;

/** The ip of synthetic host `i` (10.20.0.0 onwards). */
export function syntheticIp(i: number): string {
  return `10.${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

export function syntheticName(i: number): string {
  return `${ROLES[i % ROLES.length]}-${String(i).padStart(5, "0")}`;
}

function element(report: Record<string, unknown>, receivedAt: string, ip: string): string {
  const { report_id, ...rest } = report;
  return JSON.stringify({ report_id, received_at: receivedAt, source_ip: ip, ...rest });
}

function writeDay(dir: string, ip: string, date: string, lines: string[]): void {
  writeFileSync(join(dir, `${ip}_${date}.json`), `[\n${lines.join(",\n")}\n]\n`);
}

/**
 * `count` hosts with one report each; every SILENT_EVERY-th host was last heard from two hours before `now`
 * (silent), the others within the last four minutes.
 */
export function writeSyntheticFleet(dir: string, count: number, now: Date): void {
  const base = sampleReport();
  for (let i = 0; i < count; i++) {
    const ip = syntheticIp(i);
    const silent = i % SILENT_EVERY === SILENT_EVERY - 1;
    const at = new Date(now.getTime() - (silent ? 2 * 3600_000 : (i % 240) * 1000));
    const os = OSES[i % OSES.length] as (typeof OSES)[number];
    const report = {
      ...base,
      report_id: Bun.randomUUIDv7(),
      host: { hostname: syntheticName(i), fqdn: `${syntheticName(i)}.example.net`, ips: [ip] },
      os: { ...base.os, ...os },
      cpu: { ...base.cpu, load_percent: (i * 37) % 100 },
      memory: {
        ...base.memory,
        total_bytes: 16 * 2 ** 30,
        available_bytes: ((i * 53) % 100) * 0.16 * 2 ** 30,
      },
      disks: [{ mount: "/", fs: "ext4", size_bytes: 100 * 2 ** 30, used_bytes: ((i * 71) % 100) * 2 ** 30 }],
      users:
        i % 3 === 0
          ? [{ name: `user${i % 7}`, terminal: "pts/0", host: "10.0.0.1", login_at: at.toISOString() }]
          : [],
      processes: { total: 100 + (i % 400), list: [] },
      agent: { version: i % 5 === 0 ? "0.0.9" : "0.1.0", id: null },
    };
    writeDay(dir, ip, at.toISOString().slice(0, 10), [element(report, at.toISOString(), ip)]);
  }
}

/**
 * One host's full day: `reports` reports 5 minutes apart from the day's midnight UTC, each with `processes`
 * processes (about 1,600 make a real server's 250 KB report, 70 MB a day). CPU load follows a daily wave.
 */
export function writeBusyDay(dir: string, ip: string, date: string, reports = 288, processes = 1600): void {
  const base = sampleReport();
  const template = base.processes.list;
  const list = Array.from({ length: processes }, (_, k) => ({
    ...(template[k % template.length] as (typeof template)[number]),
    pid: 1000 + k,
    cpu_percent: (k * 7) % 13,
  }));
  const start = Date.parse(`${date}T00:00:00.000Z`);
  const lines: string[] = [];
  for (let n = 0; n < reports; n++) {
    const at = new Date(start + n * 300_000).toISOString();
    const wave = 50 + 40 * Math.sin((n / reports) * 2 * Math.PI);
    const report = {
      ...base,
      report_id: Bun.randomUUIDv7(),
      collected_at: at,
      host: { ...base.host, hostname: "busy-host" },
      cpu: { ...base.cpu, load_percent: Math.round(wave * 10) / 10 },
      memory: {
        ...base.memory,
        total_bytes: 32 * 2 ** 30,
        available_bytes: Math.round((8 + (n % 48) / 4) * 2 ** 30),
      },
      processes: { total: processes + (n % 30), list },
    };
    lines.push(element(report, at, ip));
  }
  writeDay(dir, ip, date, lines);
}
