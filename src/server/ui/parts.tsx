/** @jsxImportSource preact */
// Small pieces every page uses: sortable column headers, a pager, a usage bar, an error line.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiFailure } from "./api.ts";
import { count } from "./format.ts";

export interface Sorting<K extends string> {
  key: K;
  order: "asc" | "desc";
}

export function SortHeader<K extends string>({
  label,
  column,
  sorting,
  onSort,
  numeric = false,
}: {
  label: string;
  column: K;
  sorting: Sorting<K>;
  onSort: (next: Sorting<K>) => void;
  numeric?: boolean;
}) {
  const active = sorting.key === column;
  return (
    <th
      scope="col"
      class={numeric ? "num" : undefined}
      aria-sort={active ? (sorting.order === "asc" ? "ascending" : "descending") : "none"}
    >
      <button
        type="button"
        class="sort"
        onClick={() =>
          onSort({
            key: column,
            order:
              active && sorting.order === (numeric ? "desc" : "asc")
                ? numeric
                  ? "asc"
                  : "desc"
                : numeric
                  ? "desc"
                  : "asc",
          })
        }
      >
        {label}
        <span aria-hidden="true" class="arrow">
          {active ? (sorting.order === "asc" ? "▲" : "▼") : "↕"}
        </span>
      </button>
    </th>
  );
}

export function Pager({
  offset,
  limit,
  total,
  onPage,
  label,
}: {
  offset: number;
  limit: number;
  total: number;
  onPage: (offset: number) => void;
  label: string;
}) {
  const first = total ? offset + 1 : 0;
  const last = Math.min(total, offset + limit);
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" disabled={offset === 0} onClick={() => onPage(Math.max(0, offset - limit))}>
        Previous
      </button>
      <span aria-live="polite">
        {count(first)}–{count(last)} of {count(total)}
      </span>
      <button type="button" disabled={last >= total} onClick={() => onPage(offset + limit)}>
        Next
      </button>
    </nav>
  );
}

export function Bar({ value, label }: { value: number | null; label: string }) {
  const share = value === null ? 0 : Math.max(0, Math.min(100, value));
  return (
    <meter class="bar" min={0} max={100} low={75} high={90} optimum={0} value={share} aria-label={label} />
  );
}

export function Failure({ error }: { error: unknown }) {
  if (!error) return null;
  const text =
    error instanceof ApiFailure ? error.message : error instanceof Error ? error.message : String(error);
  return (
    <p role="alert" class="error">
      {text}
    </p>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** A value that follows `value` after it stopped changing for `ms` (search boxes). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}
