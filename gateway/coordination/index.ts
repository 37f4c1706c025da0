// Chooses the coordination backend: Redis when a URL is configured (any number of
// gateway processes), in-process memory otherwise (one process, nothing installed).

import { MemoryCoordinator, type LogFn } from './memory.js';
import type { Coordinator } from './types.js';

export type { Coordinator, Lease } from './types.js';
export { LockTimeoutError } from './types.js';
export { MemoryCoordinator, MemoryHub, KeyedMutex, type LogFn, type MemoryCoordinatorOptions } from './memory.js';
// RedisCoordinator: import it from './redis.js' (loaded only when REDIS_URL is set, below).
export type { RedisCoordinatorOptions } from './redis.js';

export interface CreateCoordinatorOptions {
  /** REDIS_URL; unset or empty selects the in-process implementation. */
  redisUrl?: string;
  /** Key/channel namespace in Redis (default `chatgate:`). */
  prefix?: string;
  log?: LogFn;
  /** How long to wait for Redis at startup before rejecting (default 10 s). */
  connectTimeoutMs?: number;
}

/**
 * Builds the coordinator for this process. With a Redis URL it resolves once both Redis
 * connections are up and rejects if Redis is not reachable within `connectTimeoutMs`.
 */
export async function createCoordinator(opts: CreateCoordinatorOptions = {}): Promise<Coordinator> {
  if (!opts.redisUrl) return new MemoryCoordinator({ log: opts.log });
  // Loaded on demand: the redis client is ~15 MB of an idle single-process gateway that never uses it.
  const { RedisCoordinator } = await import('./redis.js');
  return RedisCoordinator.connect({
    url: opts.redisUrl,
    prefix: opts.prefix,
    log: opts.log,
    connectTimeoutMs: opts.connectTimeoutMs,
  });
}
