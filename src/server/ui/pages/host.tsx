/** @jsxImportSource preact */
// One host: its latest report laid out for reading, its processes, and charts over a chosen day.
import { useEffect, useMemo, useState } from "preact/hooks";
import type { SeriesAnswer } from "../../../shared/fleet-api.ts";
import { getJson, has, query, request, type Welcome } from "../api.ts";
import { Chart } from "../chart.tsx";
import { bytes, count, duration, percent, utc } from "../format.ts";
import { Bar, Failure, Section } from "../parts.tsx";
import { Listing } from "./listing.tsx";
import { type Process, Processes } from "./processes.tsx";

/** The report as stored, read loosely: an older agent or another OS may leave any part out. */
interface HostReport {
  received_at?: string;
  collected_at?: string;
  agent?: { version?: string; id?: string | null };
  host?: { hostname?: string; fqdn?: string; ips?: string[] };
  os?: {
    platform?: string;
    name?: string;
    version?: string;
    build?: string;
    kernel?: string;
    arch?: string;
    uptime_s?: number;
  };
  cpu?: {
    manufacturer?: string;
    model?: string;
    speed_ghz?: number;
    cores?: number;
    physical_cores?: number;
    load_percent?: number;
    load_avg?: number[];
  };
  memory?: {
    total_bytes?: number;
    available_bytes?: number;
    swap_total_bytes?: number;
    swap_used_bytes?: number;
  };
  users?: { name?: string; terminal?: string; host?: string; login_at?: string }[];
  processes?: { total?: number; list?: Process[] };
  disks?: {
    mount?: string;
    fs?: string;
    size_bytes?: number;
    used_bytes?: number;
    available_bytes?: number;
  }[];
  network?: { name?: string; mac?: string; ipv4?: string[]; ipv6?: string[] }[];
  system?: { manufacturer?: string; model?: string; serial?: string; uuid?: string };
  software?: { hash?: string; items?: Record<string, unknown>[] };
  services?: { hash?: string; items?: Record<string, unknown>[] };
  errors?: { collector?: string; message?: string }[];
}

interface DayFile {
  name: string;
  date: string;
  bytes: number;
  reports: number;
}

const FIELDS = ["cpu.load_percent", "memory.available_bytes", "processes.total", "disks.max_used_percent"];
const pct = (value: number) => `${Math.round(value)} %`;
const whole = (value: number) => count(Math.round(value));

function Facts({ rows }: { rows: [string, string | number | undefined | null][] }) {
  const known = rows.filter(([, value]) => value !== undefined && value !== null && value !== "");
  if (!known.length) return <p class="note">Not reported.</p>;
  return (
    <dl class="facts">
      {known.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** "AMD EPYC 7B13", not "AMD AMD EPYC 7B13": most models already start with their maker. */
function cpuName(cpu: HostReport["cpu"]): string {
  const maker = cpu?.manufacturer ?? "";
  const model = cpu?.model ?? "";
  return model.toLowerCase().startsWith(maker.toLowerCase()) ? model : `${maker} ${model}`.trim();
}

function diskShare(disk: NonNullable<HostReport["disks"]>[number]): number | null {
  const used = disk.used_bytes ?? 0;
  const room = disk.available_bytes !== undefined ? used + disk.available_bytes : (disk.size_bytes ?? 0);
  return room > 0 ? (used / room) * 100 : null;
}

async function download(ip: string, day: DayFile): Promise<void> {
  const response = await request(`/query${query({ ip, date: day.date })}`);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = day.name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The software or services list: from the report when it carried one, else (the report has only the
 * list's hash: it was sent earlier) from the software API. A report without the section asks nothing. */
function useList(ip: string, report: HostReport | null, kind: "software" | "services", info: Welcome | null) {
  const [items, setItems] = useState<Record<string, unknown>[] | null>(null);
  const inReport = report?.[kind]?.items;
  const hashOnly = report?.[kind] !== undefined && !inReport;
  const api = has(info, "GET /api/software");
  useEffect(() => {
    if (!hashOnly || !api) return;
    getJson<unknown>(`/api/hosts/${encodeURIComponent(ip)}/${kind}`).then(
      (answer) => setItems(firstList(answer)),
      () => setItems(null),
    );
  }, [ip, kind, api, hashOnly]);
  return inReport ?? items;
}

/** The first list of objects in an answer ({ items }, { software }, or the list itself). */
export function firstList(answer: unknown): Record<string, unknown>[] | null {
  if (Array.isArray(answer)) return answer as Record<string, unknown>[];
  if (typeof answer !== "object" || answer === null) return null;
  for (const value of Object.values(answer))
    if (Array.isArray(value)) return value as Record<string, unknown>[];
  return null;
}

export function HostPage({ ip, info }: { ip: string; info: Welcome | null }) {
  const [report, setReport] = useState<HostReport | null>(null);
  const [days, setDays] = useState<DayFile[]>([]);
  const [date, setDate] = useState<string>("");
  const [series, setSeries] = useState<SeriesAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [seriesError, setSeriesError] = useState<unknown>(null);

  useEffect(() => {
    getJson<HostReport[]>(`/query${query({ ip, limit: 1 })}`).then(
      (list) => setReport(list[0] ?? null),
      setError,
    );
    getJson<{ files: DayFile[] }>(`/files${query({ ip })}`).then((answer) => {
      const sorted = [...answer.files].sort((a, b) => (a.date < b.date ? 1 : -1));
      setDays(sorted);
    }, setError);
  }, [ip]);

  // The newest day's series is asked for at once, beside the report and the day list (no date: the server
  // picks the newest); choosing a day asks for that one.
  useEffect(() => {
    const abort = new AbortController();
    setSeries(null);
    getJson<SeriesAnswer>(
      `/api/hosts/${encodeURIComponent(ip)}/series${query({ date, fields: FIELDS.join(",") })}`,
      abort.signal,
    ).then(
      (answer) => {
        setSeries(answer);
        setSeriesError(null);
      },
      (failure: unknown) => {
        if (!abort.signal.aborted) setSeriesError(failure);
      },
    );
    return () => abort.abort();
  }, [ip, date]);

  const software = useList(ip, report, "software", info);
  const services = useList(ip, report, "services", info);
  const shownDate = date || series?.date || days[0]?.date || "";
  const chosenDay = days.find((day) => day.date === shownDate);
  const memory = report?.memory;
  const memShare = memory?.total_bytes
    ? ((memory.total_bytes - (memory.available_bytes ?? 0)) / memory.total_bytes) * 100
    : null;
  const swapShare = memory?.swap_total_bytes
    ? ((memory.swap_used_bytes ?? 0) / memory.swap_total_bytes) * 100
    : null;
  const processes = useMemo(() => report?.processes?.list ?? [], [report]);

  return (
    <>
      <p class="crumbs">
        <a href="#/">Fleet</a> › {ip}
      </p>
      <h1>{report?.host?.hostname || ip}</h1>
      <Failure error={error} />
      {report ? (
        <>
          <p class="note">
            Latest report received {utc(report.received_at)} from {ip}, agent {report.agent?.version ?? "?"}
          </p>
          <div class="grid">
            <Section title="Operating system">
              <Facts
                rows={[
                  ["Name", `${report.os?.name ?? ""} ${report.os?.version ?? ""}`.trim()],
                  ["Build", report.os?.build],
                  ["Kernel", report.os?.kernel],
                  ["Architecture", report.os?.arch],
                  ["Uptime", duration(report.os?.uptime_s)],
                  ["FQDN", report.host?.fqdn],
                ]}
              />
            </Section>
            <Section title="CPU">
              <Facts
                rows={[
                  ["Model", cpuName(report.cpu)],
                  [
                    "Cores",
                    report.cpu
                      ? `${report.cpu.cores ?? "?"} (${report.cpu.physical_cores ?? "?"} physical)`
                      : null,
                  ],
                  ["Speed", report.cpu?.speed_ghz ? `${report.cpu.speed_ghz} GHz` : null],
                  ["Load", percent(report.cpu?.load_percent, 1)],
                  [
                    "Load average",
                    report.cpu?.load_avg?.length
                      ? report.cpu.load_avg.map((n) => n.toFixed(2)).join(" / ")
                      : null,
                  ],
                ]}
              />
            </Section>
            <Section title="Memory and swap">
              <p>
                Memory <Bar value={memShare} label="memory used" /> {percent(memShare)} used of{" "}
                {bytes(memory?.total_bytes)} ({bytes(memory?.available_bytes)} available)
              </p>
              <p>
                Swap <Bar value={swapShare} label="swap used" />{" "}
                {memory?.swap_total_bytes
                  ? `${bytes(memory.swap_used_bytes)} of ${bytes(memory.swap_total_bytes)}`
                  : "none"}
              </p>
            </Section>
            <Section title="Hardware">
              <Facts
                rows={[
                  ["Manufacturer", report.system?.manufacturer],
                  ["Model", report.system?.model],
                  ["Serial", report.system?.serial],
                  ["UUID", report.system?.uuid],
                ]}
              />
            </Section>
          </div>
          <Section title="Over a day">
            <div class="filters">
              <div>
                <label for="day">Day</label>
                <select id="day" value={shownDate} onChange={(event) => setDate(event.currentTarget.value)}>
                  {days.map((day) => (
                    <option key={day.date} value={day.date}>
                      {day.date} ({count(day.reports)} reports)
                    </option>
                  ))}
                </select>
              </div>
              {chosenDay ? (
                <div>
                  <button
                    type="button"
                    class="quiet"
                    onClick={() => download(ip, chosenDay).catch(setSeriesError)}
                  >
                    Download {chosenDay.name} ({bytes(chosenDay.bytes)})
                  </button>
                </div>
              ) : null}
            </div>
            <Failure error={seriesError} />
            {series ? (
              <div class="charts" data-date={series.date}>
                <Chart
                  title="CPU load"
                  t={series.t}
                  values={series.values["cpu.load_percent"] ?? []}
                  format={pct}
                  max={100}
                />
                <Chart
                  title="Memory available"
                  t={series.t}
                  values={series.values["memory.available_bytes"] ?? []}
                  format={bytes}
                />
                <Chart
                  title="Processes"
                  t={series.t}
                  values={series.values["processes.total"] ?? []}
                  format={whole}
                />
                <Chart
                  title="Fullest disk"
                  t={series.t}
                  values={series.values["disks.max_used_percent"] ?? []}
                  format={pct}
                  max={100}
                />
              </div>
            ) : !seriesError ? (
              <p class="loading">Loading charts…</p>
            ) : null}
          </Section>
          <Section title="Disks">
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Mount</th>
                    <th scope="col">File system</th>
                    <th scope="col">Used</th>
                    <th scope="col" class="num">
                      Size
                    </th>
                    <th scope="col" class="num">
                      Available
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {(report.disks ?? []).map((disk) => (
                    <tr key={disk.mount}>
                      <th scope="row" class="mono">
                        {disk.mount}
                      </th>
                      <td>{disk.fs}</td>
                      <td>
                        <Bar value={diskShare(disk)} label={`${disk.mount} used`} />{" "}
                        {percent(diskShare(disk))}
                      </td>
                      <td class="num">{bytes(disk.size_bytes)}</td>
                      <td class="num">{bytes(disk.available_bytes)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Section>
          <div class="grid">
            <Section title="Network">
              <ul class="plain">
                {(report.network ?? []).map((nic) => (
                  <li key={nic.name}>
                    <strong>{nic.name}</strong> <span class="mono">{nic.mac}</span>
                    <br />
                    <span class="mono">
                      {[...(nic.ipv4 ?? []), ...(nic.ipv6 ?? [])].join(", ") || "no address"}
                    </span>
                  </li>
                ))}
              </ul>
            </Section>
            <Section title="Sessions">
              {report.users?.length ? (
                <ul class="plain">
                  {report.users.map((user, i) => (
                    <li key={`${user.name}-${i}`}>
                      <strong>{user.name}</strong> {user.terminal} {user.host ? `from ${user.host}` : ""}{" "}
                      since {utc(user.login_at)}
                    </li>
                  ))}
                </ul>
              ) : (
                <p>No one is logged in.</p>
              )}
            </Section>
          </div>
          {report.errors?.length ? (
            <Section title="Collector errors">
              <ul class="plain">
                {report.errors.map((one, i) => (
                  <li key={`${one.collector}-${i}`}>
                    <strong>{one.collector}</strong>: {one.message}
                  </li>
                ))}
              </ul>
            </Section>
          ) : null}
          {software ? <Listing title="Software" items={software} /> : null}
          {services ? <Listing title="Services" items={services} /> : null}
          <Processes list={processes} total={report.processes?.total ?? processes.length} />
        </>
      ) : error ? null : (
        <p class="loading">Loading the latest report…</p>
      )}
    </>
  );
}
