// API rate limiting per token: a token bucket per token hash, kept by the coordinator
// (in memory for one process, in Redis for many), so N gateways behind a load balancer
// enforce one limit per token, not N. API_RATE_LIMIT (e.g. `600/min`): the count is
// both the burst and the refill over the period. Over the limit: 429 with Retry-After.
// Requests without a token are left to authentication (401). If the coordinator is
// unreachable the request goes through: rate limiting must not take the API down.

import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Coordinator } from '../coordination/types.js';
import type { Logger } from '../log.js';

export interface RateLimit {
  /** Bucket size: requests allowed at once after a quiet period. */
  capacity: number;
  /** Steady rate. */
  refillPerSec: number;
}

const PERIODS: Record<string, number> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600 };

/** `600/min`, `10/s`, `5000/h`; `off` / `0` / empty -> no limit. */
export function parseRateLimit(value: string | undefined): RateLimit | null {
  const v = (value ?? '').trim().toLowerCase();
  if (!v || v === 'off' || v === '0' || v === 'none') return null;
  const m = /^(\d+)\s*\/\s*([a-z]+)$/.exec(v);
  const period = m && Object.hasOwn(PERIODS, m[2]!) ? PERIODS[m[2]!] : undefined;
  if (!m || !period || Number(m[1]) < 1) throw new Error(`API_RATE_LIMIT must look like 600/min, 10/s or 5000/h, or be off (got ${value})`);
  return { capacity: Number(m[1]), refillPerSec: Number(m[1]) / period };
}

function tokenOf(req: Request): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (m) return m[1];
  const q = req.query?.access_token ?? req.query?.token;
  return typeof q === 'string' && q ? q : undefined;
}

export function createRateLimit(limit: RateLimit | null, coord: Coordinator, log: Logger) {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (!limit) return next();
    const token = tokenOf(req);
    if (!token) return next();
    const key = `api:${createHash('sha256').update(token).digest('hex')}`;
    let r: { allowed: boolean; retryAfterMs: number };
    try {
      r = await coord.takeToken(key, limit.capacity, limit.refillPerSec);
    } catch (err) {
      log.warn({ err }, 'rate limiter unavailable; request let through');
      return next();
    }
    if (r.allowed) return next();
    const seconds = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
    res.setHeader('Retry-After', String(seconds));
    res.status(429).json({ error: { code: 'rate_limited', message: `too many requests for this token; retry in ${seconds} s` } });
  };
}
