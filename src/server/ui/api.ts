// Every request the dashboard makes: to this origin only, with the read token of this browser session.
const TOKEN_KEY = "relevo.read-token";

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

type Listener = (failure: ApiFailure) => void;
let onUnauthorized: Listener = () => undefined;

/** Called when the server refuses the session's token (revoked while the page was open). */
export function whenUnauthorized(listener: Listener): void {
  onUnauthorized = listener;
}

async function failureOf(response: Response): Promise<ApiFailure> {
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    return new ApiFailure(
      response.status,
      body.error?.code ?? "error",
      body.error?.message ?? `${response.status} ${response.statusText}`,
    );
  } catch {
    return new ApiFailure(response.status, "error", `the server answered ${response.status}`);
  }
}

/** `probe`: a sign-in attempt, whose 401 is the form's to show, not a reason to sign the tab out. */
export async function request(
  path: string,
  token = storedToken(),
  signal?: AbortSignal,
  probe = false,
): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers, signal, credentials: "omit" });
  if (response.ok) return response;
  const failure = await failureOf(response);
  if (response.status === 401 && !probe) onUnauthorized(failure);
  throw failure;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await (await request(path, undefined, signal)).json()) as T;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export interface Welcome {
  message: string;
  endpoints: string[];
}

/** GET / as JSON: which endpoints this server has, so pages without a backend stay hidden. */
export async function welcome(): Promise<Welcome> {
  const response = await fetch("/", { headers: { accept: "application/json" }, credentials: "omit" });
  if (!response.ok) throw await failureOf(response);
  return (await response.json()) as Welcome;
}

export function has(welcome: Welcome | null, endpoint: string): boolean {
  return welcome?.endpoints.some((one) => one === endpoint || one.startsWith(`${endpoint}?`)) ?? false;
}
