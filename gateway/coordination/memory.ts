// In-process coordination: the embedded default (one gateway process, nothing installed).
//
// All state lives in a `MemoryHub`. Each `MemoryCoordinator` gets its own hub unless one
// is passed in; several coordinators sharing a hub behave like several gateway processes
// sharing one Redis, which lets tests simulate a multi-process deployment without Redis.

import { MemoryEventLog, type EventLog, type EventLogOptions } from './event-log.js';
import { LockTimeoutError, type Coordinator, type Lease } from './types.js';

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, obj?: Record<string, unknown>) => void;

const noopLog: LogFn = () => {};

// ---------------------------------------------------------------------------------------
// Keyed FIFO mutex (also used by the Redis coordinator to queue callers of one process
// locally, so only one of them at a time contends for the Redis lock).

interface Waiter {
  grant: () => void;
  cancelled: boolean;
}

interface KeyState {
  /** Waiters in FIFO order; `head` is the index of the next one (amortised O(1) dequeue). */
  waiters: Waiter[];
  head: number;
}

/**
 * One mutex per key, created on first use and deleted as soon as nobody holds or waits
 * for it, so idle keys cost nothing. Waiters are served in arrival order.
 */
export class KeyedMutex {
  private readonly keys = new Map<string, KeyState>();

  /** Number of keys currently held or waited for (for tests and metrics). */
  get size(): number {
    return this.keys.size;
  }

  /**
   * Resolves with a release function once `key` is ours. Rejects with LockTimeoutError
   * if that takes longer than `waitMs` (the waiter is then removed from the queue).
   */
  acquire(key: string, waitMs: number): Promise<() => void> {
    const state = this.keys.get(key);
    if (!state) {
      this.keys.set(key, { waiters: [], head: 0 });
      return Promise.resolve(this.releaser(key));
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        cancelled: false,
        grant: () => {
          if (timer) clearTimeout(timer);
          resolve(this.releaser(key));
        },
      };
      state.waiters.push(waiter);
      if (Number.isFinite(waitMs)) {
        timer = setTimeout(() => {
          waiter.cancelled = true;
          reject(new LockTimeoutError(key));
        }, Math.max(0, waitMs));
      }
    });
  }

  private releaser(key: string): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const state = this.keys.get(key);
      if (!state) return;
      while (state.head < state.waiters.length) {
        const next = state.waiters[state.head];
        state.waiters[state.head] = undefined as unknown as Waiter;
        state.head++;
        if (state.head > 64 && state.head * 2 > state.waiters.length) {
          state.waiters = state.waiters.slice(state.head);
          state.head = 0;
        }
        if (!next.cancelled) {
          next.grant();
          return;
        }
      }
      this.keys.delete(key);
    };
  }
}

// ---------------------------------------------------------------------------------------
// Dedupe store with TTL: a map of key -> expiry plus a min-heap of expiries, so expired
// keys are pruned on every call in O(log n) and memory stays bounded by the keys seen
// within one TTL.

class ExpiringSet {
  private readonly expiries = new Map<string, number>();
  private heap: Array<{ at: number; key: string }> = [];

  constructor(private readonly now: () => number) {}

  get size(): number {
    return this.expiries.size;
  }

  add(key: string, ttlMs: number): boolean {
    const now = this.now();
    this.prune(now);
    const at = this.expiries.get(key);
    if (at !== undefined && at > now) return false;
    const expiresAt = now + Math.max(1, ttlMs);
    this.expiries.set(key, expiresAt);
    this.push({ at: expiresAt, key });
    return true;
  }

  delete(key: string): void {
    this.expiries.delete(key);
    // The heap entry goes stale and is dropped when it comes due.
  }

  clear(): void {
    this.expiries.clear();
    this.heap = [];
  }

  private prune(now: number): void {
    const heap = this.heap;
    while (heap.length > 0 && heap[0].at <= now) {
      const top = this.pop();
      if (this.expiries.get(top.key) === top.at) this.expiries.delete(top.key);
    }
  }

  private push(item: { at: number; key: string }): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= item.at) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): { at: number; key: string } {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && heap[r].at < heap[l].at ? r : l;
        if (heap[child].at >= last.at) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

// ---------------------------------------------------------------------------------------
// Leases

class MemoryLease implements Lease {
  holding = false;
  stopped = false;

  constructor(
    readonly name: string,
    private readonly hub: MemoryHub,
    private readonly detach: (lease: MemoryLease) => void,
    private readonly onAcquired: () => void,
    readonly onLost: () => void,
    private readonly log: LogFn,
  ) {}

  held(): boolean {
    return this.holding;
  }

  /** Called by the hub when this handle becomes the holder. */
  grant(): void {
    this.holding = true;
    queueMicrotask(() => {
      if (!this.holding) return;
      try {
        this.onAcquired();
      } catch (err) {
        this.log('error', 'lease onAcquired handler threw', { lease: this.name, err });
      }
    });
  }

  async release(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.detach(this);
    this.hub.releaseLease(this);
  }
}

interface LeaseState {
  holder: MemoryLease | null;
  waiting: MemoryLease[];
}

/** State shared by the MemoryCoordinators of one simulated deployment. */
export class MemoryHub {
  readonly mutex = new KeyedMutex();
  readonly seen: ExpiringSet;
  readonly topics = new Map<string, Set<(message: string) => void>>();
  readonly leases = new Map<string, LeaseState>();
  readonly eventLogs = new Map<string, MemoryEventLog>();
  /** Token buckets: tokens left at time `at`. */
  readonly buckets = new Map<string, { tokens: number; at: number }>();
  readonly now: () => number;

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
    this.seen = new ExpiringSet(this.now);
  }

  addLease(lease: MemoryLease): void {
    let state = this.leases.get(lease.name);
    if (!state) {
      state = { holder: null, waiting: [] };
      this.leases.set(lease.name, state);
    }
    if (state.holder === null) {
      state.holder = lease;
      lease.grant();
    } else {
      state.waiting.push(lease);
    }
  }

  releaseLease(lease: MemoryLease): void {
    const state = this.leases.get(lease.name);
    if (!state) return;
    lease.holding = false;
    if (state.holder === lease) {
      const next = state.waiting.shift();
      state.holder = next ?? null;
      next?.grant();
    } else {
      state.waiting = state.waiting.filter((l) => l !== lease);
    }
    if (state.holder === null && state.waiting.length === 0) this.leases.delete(lease.name);
  }
}

// ---------------------------------------------------------------------------------------

export interface MemoryCoordinatorOptions {
  /** Share state with other coordinators (simulates several processes on one Redis). */
  hub?: MemoryHub;
  /** Clock for dedupe TTLs when no hub is given (default Date.now). */
  now?: () => number;
  log?: LogFn;
}

const DEFAULT_WAIT_MS = 30_000;

/**
 * Coordination for a single process. Dedupe keys expire after their TTL; locks are FIFO
 * per key (the `ttlMs` of withLock is irrelevant here: a holder cannot die without the
 * whole process dying); pub/sub delivers asynchronously (as Redis would); a lease is
 * granted at once when free, otherwise when the holder releases it.
 */
export class MemoryCoordinator implements Coordinator {
  readonly kind = 'memory' as const;
  private readonly hub: MemoryHub;
  private readonly log: LogFn;
  private closed = false;
  private readonly mySubscriptions = new Set<{ topic: string; handler: (message: string) => void }>();
  private readonly myLeases = new Set<MemoryLease>();

  constructor(opts: MemoryCoordinatorOptions = {}) {
    this.hub = opts.hub ?? new MemoryHub({ now: opts.now });
    this.log = opts.log ?? noopLog;
  }

  private check(): void {
    if (this.closed) throw new Error('coordinator is closed');
  }

  async dedupe(key: string, ttlMs: number): Promise<boolean> {
    this.check();
    return this.hub.seen.add(key, ttlMs);
  }

  async forget(key: string): Promise<void> {
    this.check();
    this.hub.seen.delete(key);
  }

  async withLock<T>(key: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<T> {
    this.check();
    const release = await this.hub.mutex.acquire(key, opts.waitMs ?? DEFAULT_WAIT_MS);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  async publish(topic: string, message: string): Promise<void> {
    this.check();
    const handlers = this.hub.topics.get(topic);
    if (!handlers) return;
    for (const handler of [...handlers]) {
      queueMicrotask(() => {
        if (!handlers.has(handler)) return; // unsubscribed meanwhile
        try {
          handler(message);
        } catch (err) {
          this.log('error', 'subscriber threw', { topic, err });
        }
      });
    }
  }

  async subscribe(topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    this.check();
    // Wrap so the same function subscribed twice counts twice, like the Redis fan-out.
    const wrapped = (message: string) => handler(message);
    let set = this.hub.topics.get(topic);
    if (!set) {
      set = new Set();
      this.hub.topics.set(topic, set);
    }
    set.add(wrapped);
    const sub = { topic, handler: wrapped };
    this.mySubscriptions.add(sub);
    return async () => this.unsubscribe(sub);
  }

  private unsubscribe(sub: { topic: string; handler: (message: string) => void }): void {
    if (!this.mySubscriptions.delete(sub)) return;
    const set = this.hub.topics.get(sub.topic);
    if (!set) return;
    set.delete(sub.handler);
    if (set.size === 0) this.hub.topics.delete(sub.topic);
  }

  lease(name: string, opts: { ttlMs: number; onAcquired: () => void; onLost: () => void }): Lease {
    this.check();
    const lease = new MemoryLease(name, this.hub, (l) => this.myLeases.delete(l), opts.onAcquired, opts.onLost, this.log);
    this.myLeases.add(lease);
    this.hub.addLease(lease);
    return lease;
  }

  eventLog(name: string, opts: EventLogOptions = {}): EventLog {
    this.check();
    let log = this.hub.eventLogs.get(name);
    if (!log) {
      log = new MemoryEventLog(opts.maxLen);
      this.hub.eventLogs.set(name, log);
    }
    return log;
  }

  async takeToken(key: string, capacity: number, refillPerSec: number): Promise<{ allowed: boolean; retryAfterMs: number }> {
    this.check();
    const buckets = this.hub.buckets;
    const now = this.hub.now();
    const perMs = refillPerSec / 1000;
    if (buckets.size > 10_000) {
      // Bounded memory: a bucket that has refilled completely is the same as no bucket.
      for (const [k, b] of buckets) if (b.tokens + (now - b.at) * perMs >= capacity) buckets.delete(k);
    }
    const b = buckets.get(key) ?? { tokens: capacity, at: now };
    b.tokens = Math.min(capacity, b.tokens + Math.max(0, now - b.at) * perMs);
    b.at = now;
    buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true, retryAfterMs: 0 };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - b.tokens) / perMs) };
  }

  async ping(): Promise<void> {
    this.check();
  }

  /** Unsubscribes this coordinator's handlers and releases its leases. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const sub of [...this.mySubscriptions]) this.unsubscribe(sub);
    for (const lease of [...this.myLeases]) await lease.release();
  }
}
