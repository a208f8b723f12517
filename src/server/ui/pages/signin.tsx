/** @jsxImportSource preact */
// Sign-in: a read token, kept in this browser session only (sessionStorage), never in a cookie.
import { useState } from "preact/hooks";

export function SignIn({
  why,
  onSubmit,
}: {
  why: string | null;
  onSubmit: (token: string) => Promise<string | null>;
}) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(why);
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="narrow">
      <h1>relevo</h1>
      <form
        class="signin"
        onSubmit={async (event) => {
          event.preventDefault();
          if (!token.trim()) {
            setError("Enter a read token.");
            return;
          }
          setBusy(true);
          setError(await onSubmit(token.trim()));
          setBusy(false);
        }}
      >
        <h2>Sign in</h2>
        <p>
          This server asks for a token with the <code>read</code> role (
          <code>relevo-server token create --role read</code>
          ). It is kept for this browser tab only.
        </p>
        <label for="token">Read token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
          aria-describedby={error ? "signin-error" : undefined}
          aria-invalid={error ? true : undefined}
        />
        {error ? (
          <p id="signin-error" role="alert" class="error">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
