// Who may call what: `ingest` tokens may upload, `read` tokens may query, `logs` tokens may write the logs
// of their one service (the guard hands that service to the route as `logService`). On loopback, in a data directory
// that has never had a token, the server is open (a local trial); anywhere else, behind a proxy, or once a
// token has existed there (even if all are revoked since), a token is always required unless --no-auth.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http-error.ts";
import type { Role, TokenCheck } from "./tokens.ts";

export type AuthMode = "off" | "if-tokens" | "required";

export interface AuthOptions {
  mode: AuthMode;
  registry: TokenCheck | null;
  /** An enrolled agent's own token: the agent id it belongs to, or null. Such a token may upload. */
  agentToken?: ((token: string) => number | null | Promise<number | null>) | null;
}

// JWT: the integration guide's second way of sending an agent's token (relevo mints no JWTs; it is a name).
const SCHEME = /^(?:Bearer|Token|JWT)\s+(\S{1,512})\s*$/i;

/** The token an Authorization header carries, if it carries one in a scheme we take. */
export function presentedToken(header: string | undefined): string | undefined {
  return SCHEME.exec(header ?? "")?.[1];
}

/** Headers only a proxy adds: such a request comes from somewhere else, whatever the TCP peer says. */
const PROXY_HEADERS = ["forwarded", "x-forwarded-for", "x-real-ip", "via"];

/** Whether this request may go without a token: never behind a proxy, never once tokens have existed. */
export function openToAll(auth: AuthOptions, header: (name: string) => string | undefined): boolean {
  if (auth.mode === "off") return true;
  if (auth.mode === "required") return false;
  if (auth.registry?.required) return false;
  return !PROXY_HEADERS.some((name) => header(name) !== undefined);
}

export function requireRole(
  role: Role | readonly Role[],
  auth: AuthOptions,
  clock: () => Date,
): MiddlewareHandler<AppEnv> {
  const roles: readonly Role[] = typeof role === "string" ? [role] : role;
  return async (c, next) => {
    const { registry } = auth;
    if (openToAll(auth, (name) => c.req.header(name))) return next();
    const challenge = { "www-authenticate": 'Bearer realm="relevo"' };
    const presented = presentedToken(c.req.header("authorization"));
    if (!presented) {
      throw new ApiError(
        401,
        "unauthorized",
        "send a token as Authorization: Bearer <token> (or Token <token>)",
        undefined,
        challenge,
      );
    }
    const entry = registry?.verify(presented, clock()) ?? null;
    const agentId = !entry && role === "ingest" ? ((await auth.agentToken?.(presented)) ?? null) : null;
    if (agentId !== null) {
      c.set("agentId", agentId);
      c.set("token", `agent-${agentId}`);
      return next();
    }
    if (!entry)
      throw new ApiError(
        401,
        "unauthorized",
        "the token is not valid (revoked or mistyped)",
        undefined,
        challenge,
      );
    if (!roles.includes(entry.role)) {
      throw new ApiError(
        403,
        "forbidden",
        `this token has the ${entry.role} role; this endpoint needs ${roles.join(" or ")}`,
      );
    }
    // limits.ts charges the token's rate per source address.
    c.set("token", entry.name);
    if (entry.service !== undefined) c.set("logService", entry.service);
    return next();
  };
}
