/** @jsxImportSource preact */
// The processes of the latest report: searchable, sortable, busiest first. Only the first 100 rows are
// drawn until asked (a report can list thousands, and each row costs the browser).
import { useMemo, useState } from "preact/hooks";
import { bytes, count } from "../format.ts";
import { Section, SortHeader, type Sorting } from "../parts.tsx";

export interface Process {
  pid?: number;
  ppid?: number;
  name?: string;
  user?: string;
  cpu_percent?: number;
  memory_rss_bytes?: number;
  started_at?: string;
  command?: string;
}

type Key = "name" | "pid" | "user" | "cpu" | "memory";
const SHOWN = 100;

const value = (process: Process, key: Key): string | number => {
  switch (key) {
    case "name":
      return (process.name ?? "").toLowerCase();
    case "pid":
      return process.pid ?? 0;
    case "user":
      return (process.user ?? "").toLowerCase();
    case "cpu":
      return process.cpu_percent ?? 0;
    case "memory":
      return process.memory_rss_bytes ?? 0;
  }
};

export function Processes({ list, total }: { list: Process[]; total: number }) {
  const [sorting, setSorting] = useState<Sorting<Key>>({ key: "cpu", order: "desc" });
  const [q, setQ] = useState("");
  const [all, setAll] = useState(false);
  const chosen = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const found = needle
      ? list.filter((p) =>
          [p.name, p.user, p.command, String(p.pid)].some((text) =>
            (text ?? "").toLowerCase().includes(needle),
          ),
        )
      : list;
    const sign = sorting.order === "asc" ? 1 : -1;
    // Ties (idle processes) go by memory, so the heaviest come first either way.
    return [...found].sort((a, b) => {
      const x = value(a, sorting.key);
      const y = value(b, sorting.key);
      if (x !== y) return (x < y ? -1 : 1) * sign;
      return (b.memory_rss_bytes ?? 0) - (a.memory_rss_bytes ?? 0);
    });
  }, [list, q, sorting]);
  const rows = all ? chosen : chosen.slice(0, SHOWN);
  const header = (label: string, column: Key, numeric = false) => (
    <SortHeader label={label} column={column} numeric={numeric} sorting={sorting} onSort={setSorting} />
  );
  return (
    <Section title={`Processes (${count(total)})`}>
      <div class="filters">
        <div>
          <label for="proc-q">Search processes</label>
          <input
            id="proc-q"
            type="search"
            placeholder="name, user, command, pid"
            value={q}
            onInput={(event) => setQ(event.currentTarget.value)}
          />
        </div>
      </div>
      <div class="scroll">
        <table class="processes">
          <thead>
            <tr>
              {header("Name", "name")}
              {header("PID", "pid", true)}
              {header("User", "user")}
              {header("CPU", "cpu", true)}
              {header("Memory", "memory", true)}
              <th scope="col">Command</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.pid}>
                <th scope="row">{p.name}</th>
                <td class="num">{p.pid}</td>
                <td>{p.user}</td>
                <td class="num">{(p.cpu_percent ?? 0).toFixed(1)} %</td>
                <td class="num">{bytes(p.memory_rss_bytes)}</td>
                <td class="mono command" title={p.command}>
                  {p.command}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {chosen.length > SHOWN ? (
        <button type="button" class="quiet" onClick={() => setAll(!all)}>
          {all ? `Show the first ${SHOWN}` : `Show all ${count(chosen.length)}`}
        </button>
      ) : null}
    </Section>
  );
}
