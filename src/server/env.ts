// Hono's typed environment for this app: what Bun.serve binds per request, and what middleware sets.
/** Per-request bindings from Bun.serve: the TCP peer address. Tests pass them to app.request(). */
export interface Bindings {
  ip?: string;
  /** Sets this request's idle timeout in seconds (Bun's server.timeout), for a long-poll. */
  timeout?: (seconds: number) => void;
}

export interface Variables {
  /** The address a report is filed under (see client-ip.ts). */
  clientIp: string;
  /** The name of the token that passed the guard, when one did. */
  token?: string;
  /** The one service a `logs` token may write (set by the guard); absent or null: any. */
  logService?: string | null;
  /** The enrolled agent whose own token passed the guard. */
  agentId?: number;
}

export type AppEnv = { Bindings: Bindings; Variables: Variables };
