// Coordination between gateway processes. One interface, two implementations:
// memory (one process, the embedded default) and Redis (any number of processes).
// The same test suite (test/gateway/coordination.test.ts) runs against both.

import type { EventLog, EventLogOptions } from './event-log.js';

export interface Lease {
  readonly name: string;
  /** True while this process holds the lease (renewed in the background). */
  held(): boolean;
  /** Gives the lease up (another process may take it at once). */
  release(): Promise<void>;
}

export interface Coordinator {
  readonly kind: 'memory' | 'redis';
  /**
   * Marks `key` as seen for `ttlMs`. Resolves true for the first caller, false for
   * every later one until the key expires. A fast path only: the database's unique
   * keys are the authority across restarts.
   */
  dedupe(key: string, ttlMs: number): Promise<boolean>;
  /** Forgets a dedupe key (e.g. when storing the message failed, so a retry is accepted). */
  forget(key: string): Promise<void>;
  /**
   * Runs `fn` while holding the mutual-exclusion lock `key` (per conversation). Waits
   * for the lock; a holder that dies loses it after `ttlMs`. Other keys run in parallel.
   * Defaults: ttlMs 10 s (Redis extends it every ttlMs/2 while fn runs, so a slow fn keeps
   * it; memory ignores it), waitMs 30 s, after which it rejects with LockTimeoutError.
   * Callers in one process are served in arrival order. Rejects with the backend's error
   * when Redis is unreachable (answer 5xx so the platform retries).
   */
  withLock<T>(key: string, fn: () => Promise<T>, opts?: { ttlMs?: number; waitMs?: number }): Promise<T>;
  /** Publishes to every subscriber of `topic` in every process (including this one). */
  publish(topic: string, message: string): Promise<void>;
  /** Subscribes; returns an unsubscribe function. */
  subscribe(topic: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  /**
   * Keeps trying to hold lease `name` (exactly one process holds it at a time). Calls
   * `onAcquired` when this process gets it and `onLost` when it loses it (holder died:
   * taken over by another within ttlMs). Returns a handle to stop trying / release.
   * Redis: tries every ttlMs/3 (and at once when the holder releases), renews every
   * ttlMs/3, and calls `onLost` when a renewal finds another holder or Redis has been
   * unreachable so long that the key could expire before the next renewal; it then keeps
   * trying, so `onAcquired` may follow again. A voluntary `release()` (or `close()`) does
   * not call `onLost`. Memory: granted at once when free, else when the holder releases;
   * `onLost` never fires. Callbacks run asynchronously, after `lease()` has returned.
   */
  lease(name: string, opts: { ttlMs: number; onAcquired: () => void; onLost: () => void }): Lease;
  /**
   * The bounded, shared log `name` (memory ring buffer / Redis stream): ordered entries
   * with live fan-out to every process and replay after an id (event stream resume).
   */
  eventLog(name: string, opts?: EventLogOptions): EventLog;
  /**
   * Takes one token from bucket `key` (holds `capacity` tokens, refilled continuously at
   * `refillPerSec`; a new bucket starts full). Every process sharing the Redis shares the
   * bucket. `retryAfterMs`: when the next token will be there (0 when allowed).
   */
  takeToken(key: string, capacity: number, refillPerSec: number): Promise<{ allowed: boolean; retryAfterMs: number }>;
  /** Liveness probe for /healthz (rejects while Redis is unreachable). */
  ping(): Promise<void>;
  /** Releases held leases, drops subscriptions, closes connections. Idempotent; later calls reject. */
  close(): Promise<void>;
}

/** Thrown by withLock when the lock could not be had within waitMs. */
export class LockTimeoutError extends Error {
  constructor(key: string) {
    super(`lock ${key} not acquired in time`);
    this.name = 'LockTimeoutError';
  }
}
