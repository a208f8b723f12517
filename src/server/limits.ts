// Abuse limits: a token bucket per source address and per (token, source address), and caps on uploads in
// progress overall and per source, so a flood from one place gets cheap 429s/503s while everyone else's
// reports still go through. A request refused before any work (403, 404, 405, 415) costs nothing, so
// a broken neighbour on a shared token cannot spend another host's allowance.
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./env.ts";
import { ApiError } from "./http-error.ts";

// 401 stays charged: a bad token is the one refusal worth slowing down (guessing).
const FREE_REFUSALS = new Set([403, 404, 405, 415]);

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  /** 0 if the request may go ahead, else the whole seconds to wait. */
  take(key: string, nowMs: number): number {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= 100_000) this.sweep(nowMs);
      bucket = { tokens: this.burst, at: nowMs };
      this.buckets.set(key, bucket);
    }
    // max(): a clock stepping back never drains a bucket.
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + (Math.max(0, nowMs - bucket.at) / 1000) * this.perSecond,
    );
    bucket.at = nowMs;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
  }

  /** Gives back what take() charged, for a request that turned out to cost nothing. */
  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
  }

  /** Buckets that have refilled are the same as new ones: drop them to bound memory. */
  private sweep(nowMs: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((nowMs - bucket.at) / 1000) * this.perSecond >= this.burst)
        this.buckets.delete(key);
    }
  }
}

function limited(
  key: (c: Context<AppEnv>) => string | null,
  limiter: RateLimiter,
  clock: () => Date,
  why: (c: Context<AppEnv>) => string,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const k = key(c);
    if (k === null) return next();
    const wait = limiter.take(k, clock().getTime());
    if (wait > 0) {
      throw new ApiError(429, "rate_limited", why(c), undefined, { "retry-after": String(wait) });
    }
    await next();
    if (FREE_REFUSALS.has(c.res.status)) limiter.refund(k);
  };
}

/** Charges the source address's bucket. */
export function limitBySource(limiter: RateLimiter, clock: () => Date): MiddlewareHandler<AppEnv> {
  return limited(
    (c) => `ip:${c.get("clientIp")}`,
    limiter,
    clock,
    () => "too many requests from this address",
  );
}

/** Charges the bucket of the token the guard accepted, per source address: a fleet shares one token. */
export function limitByToken(limiter: RateLimiter, clock: () => Date): MiddlewareHandler<AppEnv> {
  return limited(
    (c) => {
      const token = c.get("token");
      return token === undefined ? null : `token:${token}@${c.get("clientIp")}`;
    },
    limiter,
    clock,
    (c) => `too many requests for token ${c.get("token")} from this address`,
  );
}

/**
 * At most `max` uploads in progress, and at most `perSource` from one address (slow bodies from one place
 * cannot take every slot); more get 503 with Retry-After, which agents retry later.
 */
export function capUploads(max: number, perSource: number): MiddlewareHandler<AppEnv> {
  let active = 0;
  const bySource = new Map<string, number>();
  return async (c, next) => {
    const ip = c.get("clientIp");
    const mine = bySource.get(ip) ?? 0;
    if (mine >= perSource) {
      throw new ApiError(
        503,
        "busy",
        `more than ${perSource} uploads in progress from this address; retry shortly`,
        undefined,
        { "retry-after": "1" },
      );
    }
    if (active >= max) {
      throw new ApiError(503, "busy", `more than ${max} uploads in progress; retry shortly`, undefined, {
        "retry-after": "1",
      });
    }
    active++;
    bySource.set(ip, mine + 1);
    try {
      await next();
    } finally {
      active--;
      const left = (bySource.get(ip) ?? 1) - 1;
      if (left > 0) bySource.set(ip, left);
      else bySource.delete(ip);
    }
  };
}
