/** @jsxImportSource preact */
// A list of records (software, services, search hits) as a searchable table: columns are the fields the
// records carry, the usual ones first, so a newer backend's extra fields still show.
import { useMemo, useState } from "preact/hooks";
import { count } from "../format.ts";
import { Section } from "../parts.tsx";

const FIRST = [
  "hostname",
  "ip",
  "name",
  "display_name",
  "version",
  "state",
  "start_mode",
  "vendor",
  "publisher",
  "arch",
  "source",
  "account",
  "install_date",
];
const SHOWN = 200;

function text(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function Listing({ title, items }: { title: string; items: Record<string, unknown>[] }) {
  const [q, setQ] = useState("");
  const columns = useMemo(() => {
    const seen = new Set<string>();
    for (const item of items.slice(0, 50)) for (const key of Object.keys(item)) seen.add(key);
    return [
      ...FIRST.filter((key) => seen.has(key)),
      ...[...seen].filter((key) => !FIRST.includes(key)),
    ].slice(0, 8);
  }, [items]);
  const needle = q.trim().toLowerCase();
  const found = needle
    ? items.filter((item) => columns.some((key) => text(item[key]).toLowerCase().includes(needle)))
    : items;
  const id = `list-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <Section title={`${title} (${count(items.length)})`}>
      <div class="filters">
        <div>
          <label for={id}>Search {title.toLowerCase()}</label>
          <input id={id} type="search" value={q} onInput={(event) => setQ(event.currentTarget.value)} />
        </div>
      </div>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              {columns.map((key) => (
                <th key={key} scope="col">
                  {key.replace(/_/g, " ")}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {found.slice(0, SHOWN).map((item, i) => (
              <tr key={i}>
                {columns.map((key) =>
                  key === "ip" ? (
                    <td key={key} class="mono">
                      <a href={`#/host/${encodeURIComponent(text(item[key]))}`}>{text(item[key])}</a>
                    </td>
                  ) : (
                    <td key={key}>{text(item[key])}</td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {found.length > SHOWN ? (
        <p class="note">
          The first {SHOWN} of {count(found.length)} are shown; search to narrow.
        </p>
      ) : null}
    </Section>
  );
}
