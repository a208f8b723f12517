/** @jsxImportSource preact */
// Central logs, newest first, filtered by the server (time, service, severity, text); "follow" asks again
// every few seconds and shows what arrived.
import { useEffect, useState } from "preact/hooks";
import type { LogPage } from "../../../shared/logs.ts";
import { getJson, query } from "../api.ts";
import { count, utc } from "../format.ts";
import { Failure, useDebounced } from "../parts.tsx";

const SEVERITIES = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const FOLLOW_MS = 3000;

/** A datetime-local value, read as UTC like every time the dashboard shows, as ISO 8601; empty stays empty. */
function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const at = new Date(`${local}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

export function LogsPage() {
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [service, setService] = useState("");
  const [severity, setSeverity] = useState("");
  const [text, setText] = useState("");
  const [follow, setFollow] = useState(false);
  const [pages, setPages] = useState<string[]>([]);
  const [page, setPage] = useState<LogPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const q = useDebounced(text, 250);
  const svc = useDebounced(service, 250);
  const cursor = pages.at(-1);

  useEffect(() => setPages([]), [from, to, svc, severity, q]);

  useEffect(() => {
    const abort = new AbortController();
    const path = `/logs${query({
      timestamp_start: isoOf(from),
      timestamp_end: isoOf(to),
      service: svc.trim(),
      min_severity: severity,
      q: q.trim(),
      limit: 100,
      order: "desc",
      total: "true",
      cursor,
    })}`;
    getJson<LogPage>(path, abort.signal).then(
      (answer) => {
        setPage(answer);
        setError(null);
      },
      (failure: unknown) => {
        if (!abort.signal.aborted) setError(failure);
      },
    );
    return () => abort.abort();
  }, [from, to, svc, severity, q, cursor, tick]);

  useEffect(() => {
    if (!follow || cursor) return;
    const timer = setInterval(() => setTick((n) => n + 1), FOLLOW_MS);
    return () => clearInterval(timer);
  }, [follow, cursor]);

  return (
    <>
      <h1>Logs</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <div>
          <label for="log-from">From (UTC)</label>
          <input
            id="log-from"
            type="datetime-local"
            step={1}
            value={from}
            onInput={(event) => setFrom(event.currentTarget.value)}
          />
        </div>
        <div>
          <label for="log-to">To (UTC)</label>
          <input
            id="log-to"
            type="datetime-local"
            step={1}
            value={to}
            onInput={(event) => setTo(event.currentTarget.value)}
          />
        </div>
        <div>
          <label for="log-service">Service</label>
          <input
            id="log-service"
            value={service}
            onInput={(event) => setService(event.currentTarget.value)}
          />
        </div>
        <div>
          <label for="log-severity">Severity at least</label>
          <select
            id="log-severity"
            value={severity}
            onChange={(event) => setSeverity(event.currentTarget.value)}
          >
            <option value="">Any</option>
            {SEVERITIES.map((one) => (
              <option key={one} value={one}>
                {one}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="log-q">Text</label>
          <input
            id="log-q"
            type="search"
            value={text}
            onInput={(event) => setText(event.currentTarget.value)}
          />
        </div>
        <div class="check">
          <input
            id="log-follow"
            type="checkbox"
            checked={follow}
            onChange={(event) => setFollow(event.currentTarget.checked)}
          />
          <label for="log-follow">Follow new entries</label>
        </div>
      </form>
      <Failure error={error} />
      {page ? (
        <>
          <p class="note" aria-live="polite">
            {page.total !== undefined ? `${count(page.total)} entries match` : `${count(page.count)} entries`}
            {follow && !cursor ? "; following" : ""}
          </p>
          <div class="scroll">
            <table class="logs">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Service</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Host</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {page.logs.map((entry) => (
                  <tr key={entry.id} class={`sev-${entry.severity.toLowerCase()}`}>
                    <td class="mono">
                      <time dateTime={entry.timestamp}>{utc(entry.timestamp)}</time>
                    </td>
                    <td>{entry.service}</td>
                    <td>
                      <span class="severity">{entry.severity}</span>
                    </td>
                    <td class="mono">{entry.host ?? ""}</td>
                    <td class="message">{entry.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Log pages">
            <button type="button" disabled={!pages.length} onClick={() => setPages(pages.slice(0, -1))}>
              Newer
            </button>
            <button
              type="button"
              disabled={!page.next}
              onClick={() => page.next && setPages([...pages, page.next])}
            >
              Older
            </button>
          </nav>
        </>
      ) : error ? null : (
        <p class="loading">Loading logs…</p>
      )}
    </>
  );
}
