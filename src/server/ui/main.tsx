/** @jsxImportSource preact */
// The dashboard's frame: sign-in when the server asks for a token, the navigation, and hash routes
// (#/, #/host/<ip>, #/logs, #/agents, #/software), so the server serves one page shell at GET /.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import {
  ApiFailure,
  has,
  keepToken,
  request,
  storedToken,
  type Welcome,
  welcome,
  whenUnauthorized,
} from "./api.ts";
import { AgentsPage } from "./pages/agents.tsx";
import { AlertsPage } from "./pages/alerts.tsx";
import { FleetPage } from "./pages/fleet.tsx";
import { HostPage } from "./pages/host.tsx";
import { LogsPage } from "./pages/logs.tsx";
import { SignIn } from "./pages/signin.tsx";
import { SoftwarePage } from "./pages/software.tsx";

type Session = { state: "signed-out"; why: string | null } | { state: "in"; token: string | null };

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const update = () => setHash(location.hash);
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return hash;
}

/** Whether the server takes this token (or none) for reading. */
async function probe(token: string | null): Promise<void> {
  await request("/hosts?limit=1", token, undefined, true);
}

function explain(error: unknown): string {
  if (error instanceof ApiFailure) {
    if (error.status === 401) return `The server refused the token: ${error.message}.`;
    if (error.status === 403)
      return `That token cannot read: ${error.message}. Use a token with the read role.`;
    return error.message;
  }
  return `The server cannot be reached (${error instanceof Error ? error.message : String(error)}).`;
}

function App() {
  // Optimistic: the pages ask for their data at once, and the first 401 (no token, or a refused one)
  // turns to the sign-in. One round trip fewer than asking first.
  const [session, setSession] = useState<Session>({ state: "in", token: storedToken() });
  const [info, setInfo] = useState<Welcome | null>(null);
  const hash = useHash();

  useEffect(() => {
    welcome().then(setInfo, () => setInfo({ message: "", endpoints: [] }));
    whenUnauthorized((failure) => {
      const had = storedToken();
      keepToken(null);
      setSession({ state: "signed-out", why: had ? `Signed out: ${failure.message}.` : null });
    });
  }, []);

  const signIn = async (token: string): Promise<string | null> => {
    try {
      await probe(token);
    } catch (error) {
      return explain(error);
    }
    keepToken(token);
    setSession({ state: "in", token });
    return null;
  };

  if (session.state === "signed-out") return <SignIn why={session.why} onSubmit={signIn} />;

  const route = hash.replace(/^#\/?/, "");
  const pages = [
    { href: "#/", label: "Fleet", shown: true, current: route === "" || route.startsWith("host/") },
    { href: "#/logs", label: "Logs", shown: has(info, "GET /logs"), current: route === "logs" },
    { href: "#/agents", label: "Agents", shown: has(info, "GET /api/agents"), current: route === "agents" },
    { href: "#/alerts", label: "Alerts", shown: has(info, "GET /api/alerts"), current: route === "alerts" },
    {
      href: "#/software",
      label: "Software",
      shown: has(info, "GET /api/software"),
      current: route === "software",
    },
  ];
  let page = <FleetPage />;
  if (route.startsWith("host/")) {
    const ip = decodeURIComponent(route.slice(5));
    page = <HostPage key={ip} ip={ip} info={info} />;
  } else if (route === "logs" && has(info, "GET /logs")) page = <LogsPage />;
  else if (route === "agents" && has(info, "GET /api/agents")) page = <AgentsPage />;
  else if (route === "software" && has(info, "GET /api/software")) page = <SoftwarePage />;
  else if (route === "alerts" && has(info, "GET /api/alerts")) page = <AlertsPage />;

  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          relevo
        </a>
        <nav aria-label="Pages">
          <ul>
            {pages
              .filter((one) => one.shown)
              .map((one) => (
                <li key={one.href}>
                  <a href={one.href} aria-current={one.current ? "page" : undefined}>
                    {one.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        {session.token ? (
          <button
            type="button"
            class="quiet"
            onClick={() => {
              keepToken(null);
              setSession({ state: "signed-out", why: "Signed out." });
            }}
          >
            Sign out
          </button>
        ) : (
          <span class="note">open on loopback (no tokens)</span>
        )}
      </header>
      <main id="main">{page}</main>
    </>
  );
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
