/** @jsxImportSource preact */
// The fleet: one row per host, paged, sorted and filtered by the server (10,000 rows in a table cost
// seconds to render; a page of 50 costs milliseconds). The filters survive a visit to a host page.
import { useEffect, useState } from "preact/hooks";
import type { HostPage, HostSortKey } from "../../../shared/fleet-api.ts";
import { getJson, query } from "../api.ts";
import { ago, count, percent, utc } from "../format.ts";
import { Bar, Failure, Pager, SortHeader, type Sorting, useDebounced } from "../parts.tsx";

interface FleetState {
  q: string;
  os: string;
  state: "" | "active" | "silent";
  sorting: Sorting<HostSortKey>;
  offset: number;
  limit: number;
}

let remembered: FleetState = {
  q: "",
  os: "",
  state: "",
  sorting: { key: "hostname", order: "asc" },
  offset: 0,
  limit: 50,
};

const COLUMNS: { key: HostSortKey; label: string; numeric?: boolean }[] = [
  { key: "hostname", label: "Host" },
  { key: "ip", label: "IP" },
  { key: "os", label: "OS" },
  { key: "cpu", label: "CPU", numeric: true },
  { key: "memory", label: "Memory", numeric: true },
  { key: "disk", label: "Fullest disk", numeric: true },
  { key: "users", label: "Users", numeric: true },
  { key: "processes", label: "Processes", numeric: true },
  { key: "agent_version", label: "Agent" },
  { key: "last_seen", label: "Last seen" },
];

export function FleetPage() {
  const [state, setState] = useState<FleetState>(remembered);
  const [page, setPage] = useState<HostPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const q = useDebounced(state.q, 200);
  const update = (change: Partial<FleetState>) => setState((old) => ({ ...old, offset: 0, ...change }));

  useEffect(() => {
    remembered = state;
  }, [state]);

  useEffect(() => {
    const abort = new AbortController();
    const path = `/hosts${query({
      q,
      os: state.os,
      state: state.state,
      sort: state.sorting.key,
      order: state.sorting.order,
      offset: state.offset,
      limit: state.limit,
    })}`;
    getJson<HostPage>(path, abort.signal).then(
      (answer) => {
        setPage(answer);
        setError(null);
      },
      (failure: unknown) => {
        if (!abort.signal.aborted) setError(failure);
      },
    );
    return () => abort.abort();
  }, [q, state.os, state.state, state.sorting, state.offset, state.limit]);

  return (
    <>
      <h1>Fleet</h1>
      {page ? (
        <ul class="counts" aria-label="Fleet counts">
          <li>
            <strong>{count(page.counts.hosts)}</strong> hosts
          </li>
          <li class={page.counts.silent ? "warn" : undefined}>
            <button type="button" class="link" onClick={() => update({ state: "silent" })}>
              <strong>{count(page.counts.silent)}</strong> silent
            </button>
          </li>
          {page.counts.os.slice(0, 6).map((one) => (
            <li key={one.name}>
              <button type="button" class="link" onClick={() => update({ os: one.name })}>
                <strong>{count(one.count)}</strong> {one.name}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <div>
          <label for="fleet-q">Search</label>
          <input
            id="fleet-q"
            type="search"
            placeholder="host, IP, OS, user, version"
            value={state.q}
            onInput={(event) => update({ q: event.currentTarget.value })}
          />
        </div>
        <div>
          <label for="fleet-os">OS</label>
          <select
            id="fleet-os"
            value={state.os}
            onChange={(event) => update({ os: event.currentTarget.value })}
          >
            <option value="">All</option>
            {(page?.counts.os ?? []).map((one) => (
              <option key={one.name} value={one.name}>
                {one.name} ({count(one.count)})
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="fleet-state">State</label>
          <select
            id="fleet-state"
            value={state.state}
            onChange={(event) => update({ state: event.currentTarget.value as FleetState["state"] })}
          >
            <option value="">All</option>
            <option value="active">Reporting</option>
            <option value="silent">Silent</option>
          </select>
        </div>
      </form>
      <Failure error={error} />
      {page ? (
        <>
          <div class="scroll">
            <table class="fleet">
              <caption class="visually-hidden">
                Hosts {count(page.offset + 1)} to {count(page.offset + page.count)} of {count(page.total)},
                sorted by {state.sorting.key} {state.sorting.order === "asc" ? "ascending" : "descending"}
              </caption>
              <thead>
                <tr>
                  {COLUMNS.map((column) => (
                    <SortHeader
                      key={column.key}
                      label={column.label}
                      column={column.key}
                      numeric={column.numeric}
                      sorting={state.sorting}
                      onSort={(sorting) => update({ sorting })}
                    />
                  ))}
                </tr>
              </thead>
              <tbody>
                {page.hosts.map((host) => (
                  <tr key={host.ip} class={host.silent ? "silent" : undefined}>
                    <th scope="row">
                      <a href={`#/host/${encodeURIComponent(host.ip)}`}>{host.hostname || host.ip}</a>
                      {host.silent ? <span class="badge">silent</span> : null}
                    </th>
                    <td class="mono">{host.ip}</td>
                    <td>
                      {host.os.name} {host.os.version}
                    </td>
                    <td class="num">{percent(host.cpu_load_percent)}</td>
                    <td class="num">{percent(host.memory_used_percent)}</td>
                    <td class="num">
                      <Bar value={host.disk_used_percent} label={`fullest disk of ${host.hostname}`} />{" "}
                      {percent(host.disk_used_percent)}
                    </td>
                    <td class="num" title={host.users.join(", ")}>
                      {host.users.length}
                    </td>
                    <td class="num">{count(host.process_count)}</td>
                    <td>{host.agent_version}</td>
                    <td>
                      <time dateTime={host.last_seen} title={utc(host.last_seen)}>
                        {ago(host.last_seen)}
                      </time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.total === 0 ? <p>No host matches.</p> : null}
          <Pager
            label="Fleet pages"
            offset={page.offset}
            limit={page.limit}
            total={page.total}
            onPage={(offset) => setState((old) => ({ ...old, offset }))}
          />
        </>
      ) : error ? null : (
        <p class="loading">Loading hosts…</p>
      )}
    </>
  );
}
