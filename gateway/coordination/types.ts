// Coordination between gateway processes. One interface, two implementations:
// memory (one process, the embedded default) and Redis (any number of processes).
// The same test suite (test/gateway/coordination.test.ts) runs against both.

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
   */
  lease(name: string, opts: { ttlMs: number; onAcquired: () => void; onLost: () => void }): Lease;
  /** Liveness probe for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by withLock when the lock could not be had within waitMs. */
export class LockTimeoutError extends Error {
  constructor(key: string) {
    super(`lock ${key} not acquired in time`);
    this.name = 'LockTimeoutError';
  }
}
