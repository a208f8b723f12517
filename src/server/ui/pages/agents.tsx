/** @jsxImportSource preact */
// Enrolled agents: version, last contact, state (stale after three missed intervals).
import { useEffect, useState } from "preact/hooks";
import type { AgentRecord } from "../../../shared/agents.ts";
import { getJson, query } from "../api.ts";
import { ago, utc } from "../format.ts";
import { Failure, Pager } from "../parts.tsx";

interface AgentList {
  total: number;
  limit: number;
  offset: number;
  agents: AgentRecord[];
}

export function AgentsPage() {
  const [state, setState] = useState("");
  const [offset, setOffset] = useState(0);
  const [list, setList] = useState<AgentList | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    getJson<AgentList>(`/api/agents${query({ state, offset, limit: 100 })}`).then((answer) => {
      setList(answer);
      setError(null);
    }, setError);
  }, [state, offset]);
  return (
    <>
      <h1>Agents</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <div>
          <label for="agent-state">State</label>
          <select
            id="agent-state"
            value={state}
            onChange={(event) => {
              setOffset(0);
              setState(event.currentTarget.value);
            }}
          >
            <option value="">All</option>
            <option value="active">Active</option>
            <option value="stale">Stale</option>
            <option value="revoked">Revoked</option>
          </select>
        </div>
      </form>
      <Failure error={error} />
      {list ? (
        <>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Host</th>
                  <th scope="col">OS</th>
                  <th scope="col">Version</th>
                  <th scope="col">Enrolled</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">From</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {list.agents.map((agent) => (
                  <tr key={agent.id} class={agent.health === "stale" ? "silent" : undefined}>
                    <td class="num">{agent.id}</td>
                    <th scope="row">{agent.hostname}</th>
                    <td>
                      {agent.os_type} {agent.os_version}
                    </td>
                    <td>{agent.version}</td>
                    <td>{utc(agent.first_seen)}</td>
                    <td title={utc(agent.last_seen)}>{ago(agent.last_seen)}</td>
                    <td class="mono">
                      {agent.last_ip ? (
                        <a href={`#/host/${encodeURIComponent(agent.last_ip)}`}>{agent.last_ip}</a>
                      ) : (
                        ""
                      )}
                    </td>
                    <td>{agent.state === "revoked" ? "revoked" : agent.health}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {list.total === 0 ? <p>No agent has enrolled yet (relevo-agent register).</p> : null}
          <Pager
            label="Agent pages"
            offset={list.offset}
            limit={list.limit}
            total={list.total}
            onPage={setOffset}
          />
        </>
      ) : error ? null : (
        <p class="loading">Loading agents…</p>
      )}
    </>
  );
}
