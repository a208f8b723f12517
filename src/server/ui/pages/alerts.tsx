/** @jsxImportSource preact */
// Alerts (--alerts): those firing now, then the most recently resolved; refreshed every 15 s.
import { useEffect, useState } from "preact/hooks";
import type { Alert, AlertsAnswer } from "../../../shared/alerts.ts";
import { getJson } from "../api.ts";
import { ago, utc } from "../format.ts";
import { Failure, Section } from "../parts.tsx";

const REFRESH_MS = 15_000;

/** A host's address links to its page; a log service ("billing", "*") is shown as it is. */
function Subject({ subject }: { subject: string }) {
  const isAddress = /^[0-9.]+$/.test(subject) || subject.includes(":");
  if (!isAddress) return <>{subject === "*" ? "every service" : subject}</>;
  return (
    <a class="mono" href={`#/host/${encodeURIComponent(subject)}`}>
      {subject}
    </a>
  );
}

function AlertTable({ alerts, caption, resolved }: { alerts: Alert[]; caption: string; resolved: boolean }) {
  return (
    <div class="scroll">
      <table>
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Severity</th>
            <th scope="col">Rule</th>
            <th scope="col">Subject</th>
            <th scope="col" class="num">
              Value
            </th>
            <th scope="col">Message</th>
            <th scope="col">Since</th>
            {resolved ? <th scope="col">Resolved</th> : null}
          </tr>
        </thead>
        <tbody>
          {alerts.map((alert) => (
            <tr key={`${alert.rule} ${alert.subject} ${alert.started_at}`} class={`sev-${alert.severity}`}>
              <td class="severity">{alert.severity}</td>
              <th scope="row">{alert.rule}</th>
              <td>
                <Subject subject={alert.subject} />
              </td>
              <td class="num">{alert.value === null ? "" : alert.value.toLocaleString()}</td>
              <td class="message">{alert.message}</td>
              <td title={utc(alert.started_at)}>{ago(alert.started_at)}</td>
              {resolved ? <td>{utc(alert.resolved_at)}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AlertsPage() {
  const [answer, setAnswer] = useState<AlertsAnswer | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const load = () =>
      getJson<AlertsAnswer>("/api/alerts").then((next) => {
        setAnswer(next);
        setError(null);
      }, setError);
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  return (
    <>
      <h1>Alerts</h1>
      <Failure error={error} />
      {answer ? (
        <>
          <Section title={`Firing (${answer.firing.length})`}>
            {answer.firing.length ? (
              <AlertTable alerts={answer.firing} caption="Alerts firing now" resolved={false} />
            ) : (
              <p>Nothing is firing.</p>
            )}
          </Section>
          <Section title="Recently resolved">
            {answer.recent.length ? (
              <AlertTable alerts={answer.recent} caption="Alerts resolved recently" resolved />
            ) : (
              <p>No alert has resolved yet.</p>
            )}
          </Section>
        </>
      ) : error ? null : (
        <p class="loading">Loading alerts…</p>
      )}
    </>
  );
}
