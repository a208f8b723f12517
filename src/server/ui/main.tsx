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
import { FleetPage } from "./pages/fleet.tsx";
import { HostPage } from "./pages/host.tsx";
import { LogsPage } from "./pages/logs.tsx";
import { SignIn } from "./pages/signin.tsx";
import { SoftwarePage } from "./pages/software.tsx";

type Session =
  | { state: "checking" }
  | { state: "signed-out"; why: string | null }
  | { state: "in"; token: string | null }
  | { state: "down"; why: string };

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
  await request("/hosts?limit=1", token);
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
  const [session, setSession] = useState<Session>({ state: "checking" });
  const [info, setInfo] = useState<Welcome | null>(null);
  const hash = useHash();

  useEffect(() => {
    welcome().then(setInfo, () => setInfo({ message: "", endpoints: [] }));
    const token = storedToken();
    probe(token).then(
      () => setSession({ state: "in", token }),
      (error: unknown) => {
        if (error instanceof ApiFailure && (error.status === 401 || error.status === 403)) {
          keepToken(null);
          setSession({ state: "signed-out", why: token ? explain(error) : null });
        } else setSession({ state: "down", why: explain(error) });
      },
    );
    whenUnauthorized((failure) => {
      keepToken(null);
      setSession({ state: "signed-out", why: `Signed out: ${failure.message}.` });
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

  if (session.state === "checking") return <p class="loading">Loading relevo…</p>;
  if (session.state === "down") {
    return (
      <main id="main" class="narrow">
        <h1>relevo</h1>
        <p role="alert" class="error">
          {session.why}
        </p>
      </main>
    );
  }
  if (session.state === "signed-out") return <SignIn why={session.why} onSubmit={signIn} />;

  const route = hash.replace(/^#\/?/, "");
  const pages = [
    { href: "#/", label: "Fleet", shown: true, current: route === "" || route.startsWith("host/") },
    { href: "#/logs", label: "Logs", shown: has(info, "GET /logs"), current: route === "logs" },
    { href: "#/agents", label: "Agents", shown: has(info, "GET /api/agents"), current: route === "agents" },
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
