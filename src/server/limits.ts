// Abuse limits: a token bucket per source address and per token, and a cap on uploads in progress, so a
// flood from one place gets cheap 429s while everyone else's reports still go through.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";
import { ApiError } from "./http-error.ts";

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
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * this.perSecond);
    bucket.at = nowMs;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
  }

  /** Buckets that have refilled are the same as new ones: drop them to bound memory. */
  private sweep(nowMs: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((nowMs - bucket.at) / 1000) * this.perSecond >= this.burst)
        this.buckets.delete(key);
    }
  }
}

export function limitBySource(limiter: RateLimiter): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const wait = limiter.take(`ip:${c.get("clientIp")}`, Date.now());
    if (wait > 0) {
      throw new ApiError(429, "rate_limited", "too many requests from this address", undefined, {
        "retry-after": String(wait),
      });
    }
    return next();
  };
}

/** At most `max` uploads in progress; more get 503 with Retry-After, which agents retry later. */
export function capConcurrency(max: number): MiddlewareHandler<AppEnv> {
  let active = 0;
  return async (_c, next) => {
    if (active >= max) {
      throw new ApiError(503, "busy", `more than ${max} uploads in progress; retry shortly`, undefined, {
        "retry-after": "1",
      });
    }
    active++;
    try {
      await next();
    } finally {
      active--;
    }
  };
}
