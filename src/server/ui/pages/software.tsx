/** @jsxImportSource preact */
// Which hosts have a package (GET /api/software?name=&version_lt=): shown only when the server has it.
import { useEffect, useState } from "preact/hooks";
import { getJson, query } from "../api.ts";
import { Failure, useDebounced } from "../parts.tsx";
import { firstList } from "./host.tsx";
import { Listing } from "./listing.tsx";

export function SoftwarePage() {
  const [name, setName] = useState("");
  const [below, setBelow] = useState("");
  const [items, setItems] = useState<Record<string, unknown>[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const settledName = useDebounced(name.trim(), 300);
  const settledBelow = useDebounced(below.trim(), 300);
  useEffect(() => {
    if (!settledName) {
      setItems(null);
      return;
    }
    const abort = new AbortController();
    getJson<unknown>(
      `/api/software${query({ name: settledName, version_lt: settledBelow })}`,
      abort.signal,
    ).then(
      (answer) => {
        setItems(firstList(answer) ?? []);
        setError(null);
      },
      (failure: unknown) => {
        if (!abort.signal.aborted) setError(failure);
      },
    );
    return () => abort.abort();
  }, [settledName, settledBelow]);
  return (
    <>
      <h1>Software</h1>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <div>
          <label for="sw-name">Package name</label>
          <input
            id="sw-name"
            type="search"
            placeholder="openssl"
            value={name}
            onInput={(event) => setName(event.currentTarget.value)}
          />
        </div>
        <div>
          <label for="sw-below">Older than version</label>
          <input
            id="sw-below"
            placeholder="3.0.8"
            value={below}
            onInput={(event) => setBelow(event.currentTarget.value)}
          />
        </div>
      </form>
      <Failure error={error} />
      {items ? (
        items.length ? (
          <Listing title="Hosts with it" items={items} />
        ) : (
          <p>No host has it.</p>
        )
      ) : (
        <p>Type a package name to see which hosts have it.</p>
      )}
    </>
  );
}
