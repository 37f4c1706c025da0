// Coordination through Redis: any number of gateway processes behind a load balancer.
//
// Key layout (all under `prefix`, default `chatgate:`):
//   dd:<key>      dedupe marker                  SET 1 NX PX ttl
//   lock:<key>    per-conversation lock          SET token NX PX ttl, compare-and-delete
//   lockw:<key>   "someone is waiting" flag      set by a failed acquire; release publishes a wake-up
//   lease:<name>  singleton lease                SET token NX PX ttl, renewed by compare-and-pexpire
//   rl:<key>      token bucket (rate limits)     HSET tokens/at, PEXPIRE until full again
//   log:<name>    event log                      stream, XADD MAXLEN ~ n (+ PUBLISH ps:log:<name>, one script)
// Channels:
//   ps:<topic>    pub/sub topics (one Redis subscription per topic, fanned out locally)
//   wake          lock/lease release notifications ("l<key>" / "L<name>")
//
// Two connections per coordinator: one for commands (auto-pipelined by node-redis) and a
// dedicated subscriber. Commands reject at once while Redis is unreachable
// (disableOfflineQueue); the client reconnects with backoff and operations work again.

import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createClient } from 'redis';
import { LockTimeoutError, type Coordinator, type Lease } from './types.js';
import { KeyedMutex, type LogFn } from './memory.js';
import type { EventLog, EventLogOptions } from './event-log.js';
import { RedisEventLog } from './event-log-redis.js';

type Client = ReturnType<typeof createClient>;

export interface RedisCoordinatorOptions {
  /** e.g. redis://127.0.0.1:6379 (rediss:// for TLS, credentials in the URL). */
  url: string;
  /** Namespace for every key and channel (default `chatgate:`). */
  prefix?: string;
  log?: LogFn;
  /** How long `connect` waits for Redis before giving up (default 10 s). */
  connectTimeoutMs?: number;
  /** Identifies this process in lock tokens and lease values (default host:pid:random). */
  processId?: string;
}

const DEFAULT_PREFIX = 'chatgate:';
const DEFAULT_LOCK_TTL_MS = 10_000;
const DEFAULT_WAIT_MS = 30_000;
const BACKOFF_START_MS = 2;
const BACKOFF_CAP_MS = 50;

interface Script {
  src: string;
  sha?: string;
}

// KEYS[1] lock, KEYS[2] waiter flag; ARGV[1] token, ARGV[2] ttl
const LOCK_ACQUIRE: Script = {
  src: `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 0`,
};

// KEYS[1] lock, KEYS[2] waiter flag; ARGV[1] token, ARGV[2] wake channel, ARGV[3] wake message
const LOCK_RELEASE: Script = {
  src: `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('DEL', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
  return 1
end
return 0`,
};

// KEYS[1] key; ARGV[1] token, ARGV[2] ttl. 1 if still ours (expiry pushed), else 0.
const EXTEND: Script = {
  src: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
};

// KEYS[1] lease; ARGV[1] token, ARGV[2] ttl. {1} when held by us now, else {0, pttl of the holder}.
const LEASE_ACQUIRE: Script = {
  src: `local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
return {0, redis.call('PTTL', KEYS[1])}`,
};

// KEYS[1] lease; ARGV[1] token, ARGV[2] wake channel, ARGV[3] wake message
const LEASE_RELEASE: Script = {
  src: `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`,
};

// KEYS[1] bucket; ARGV[1] capacity, ARGV[2] tokens per ms, ARGV[3] ttl ms. {allowed, retry after ms}.
// Redis's own clock (TIME), so processes with skewed clocks share one bucket fairly.
const TAKE_TOKEN: Script = {
  src: `local cap = tonumber(ARGV[1])
local perMs = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or cap
local at = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * perMs)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / perMs)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {allowed, wait}`,
};

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errInfo(err: unknown): Record<string, unknown> {
  return { err: err instanceof Error ? err.message : String(err) };
}

export class RedisCoordinator implements Coordinator {
  readonly kind = 'redis' as const;
  readonly prefix: string;
  readonly processId: string;
  private readonly client: Client;
  private readonly subscriber: Client;
  private readonly log: LogFn;
  private readonly wakeChannel: string;
  private closed = false;
  private tokenSeq = 0;

  /** Local FIFO queue per lock key: only the head of a process's queue contends in Redis. */
  private readonly localLocks = new KeyedMutex();
  /** Lock waiters sleeping between attempts, woken early by a release notification. */
  private readonly lockWakers = new Map<string, () => void>();
  private readonly leases = new Set<RedisLease>();

  /** topic -> local handlers; one Redis subscription per topic. */
  private readonly topics = new Map<string, Set<(message: string) => void>>();
  /** One stable listener per topic, so a failed unsubscribe + resubscribe never doubles delivery. */
  private readonly topicListeners = new Map<string, (message: string) => void>();
  private readonly topicOps = new KeyedMutex();

  /** Connects (both connections) and resolves once Redis answers; rejects after connectTimeoutMs. */
  static async connect(opts: RedisCoordinatorOptions): Promise<RedisCoordinator> {
    const c = new RedisCoordinator(opts);
    await c.start(opts.connectTimeoutMs ?? 10_000);
    return c;
  }

  private constructor(opts: RedisCoordinatorOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.processId = opts.processId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.log = opts.log ?? (() => {});
    this.wakeChannel = `${this.prefix}wake`;
    this.client = createClient({
      url: opts.url,
      disableOfflineQueue: true,
      pingInterval: 10_000,
      socket: {
        connectTimeout: 5_000,
        keepAlive: true,
        // Backoff 50 ms .. 2 s with jitter; never give up (the gateway answers 5xx meanwhile).
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2_000) + Math.floor(Math.random() * 50),
      },
    });
    this.subscriber = this.client.duplicate({ pingInterval: undefined });
    this.watch(this.client, 'commands');
    this.watch(this.subscriber, 'subscriber');
  }

  private watch(client: Client, role: string): void {
    let healthy = false;
    let everReady = false;
    client.on('error', (err: unknown) => {
      // Without this listener node-redis errors would crash the process.
      if (this.closed) return;
      this.log(healthy ? 'warn' : 'debug', `redis ${role} connection error`, errInfo(err));
      healthy = false;
    });
    client.on('ready', () => {
      if (everReady && !healthy) this.log('info', `redis ${role} connection restored`);
      healthy = true;
      everReady = true;
    });
    client.on('end', () => {
      healthy = false;
    });
  }

  private async start(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const connecting = Promise.all([this.client.connect(), this.subscriber.connect()]);
    connecting.catch(() => {});
    try {
      await Promise.race([
        connecting,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis not reachable within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      await this.subscriber.subscribe(this.wakeChannel, (message: string) => this.onWake(message));
      // Load scripts once so the hot path sends EVALSHA (re-loaded on NOSCRIPT, e.g. after a Redis restart).
      await Promise.all([LOCK_ACQUIRE, LOCK_RELEASE, EXTEND, LEASE_ACQUIRE, LEASE_RELEASE, TAKE_TOKEN].map(async (s) => {
        s.sha ??= await this.client.scriptLoad(s.src);
      }));
    } catch (err) {
      this.closed = true;
      this.client.destroy();
      this.subscriber.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private k(kind: string, key: string): string {
    return `${this.prefix}${kind}:${key}`;
  }

  private check(): void {
    if (this.closed) throw new Error('coordinator is closed');
  }

  private async run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    // EVALSHA by the script's SHA1 (computed here for scripts not loaded at start, e.g. the
    // event log's append, run ~3 times per message): sending and compiling the source on
    // every call cost Redis 30 µs and the gateway a larger write. NOSCRIPT (a Redis restart,
    // a first call): EVAL, which caches the script for the next EVALSHA.
    script.sha ??= createHash('sha1').update(script.src).digest('hex');
    try {
      return await this.client.evalSha(script.sha, { keys, arguments: args });
    } catch (err) {
      if (!isNoScript(err)) throw err;
    }
    return this.client.eval(script.src, { keys, arguments: args });
  }

  private nextToken(): string {
    return `${this.processId}:${++this.tokenSeq}`;
  }

  private onWake(message: string): void {
    const kind = message[0];
    const key = message.slice(1);
    if (kind === 'l') {
      this.lockWakers.get(key)?.();
    } else if (kind === 'L') {
      for (const lease of this.leases) if (lease.name === key) lease.wake();
    }
  }

  // --- dedupe -----------------------------------------------------------------------

  async dedupe(key: string, ttlMs: number): Promise<boolean> {
    this.check();
    const r = await this.client.set(this.k('dd', key), '1', {
      condition: 'NX',
      expiration: { type: 'PX', value: Math.max(1, Math.ceil(ttlMs)) },
    });
    return r === 'OK';
  }

  async forget(key: string): Promise<void> {
    this.check();
    await this.client.del(this.k('dd', key));
  }

  // --- locks ------------------------------------------------------------------------

  async withLock<T>(key: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<T> {
    this.check();
    const ttlMs = Math.max(10, Math.ceil(opts.ttlMs ?? DEFAULT_LOCK_TTL_MS));
    const waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
    const deadline = Date.now() + waitMs;
    const releaseLocal = await this.localLocks.acquire(key, waitMs);
    try {
      const lockKey = this.k('lock', key);
      const waitKey = this.k('lockw', key);
      const token = this.nextToken();
      await this.acquireRemote(key, lockKey, waitKey, token, ttlMs, deadline);

      // Keep the lock while fn runs longer than half its ttl.
      const extender = setInterval(() => {
        this.run(EXTEND, [lockKey], [token, String(ttlMs)]).then(
          (r) => {
            if (r !== 1) this.log('error', 'lock expired while its holder was still running', { key });
          },
          (err) => this.log('warn', 'could not extend lock', { key, ...errInfo(err) }),
        );
      }, Math.max(5, Math.floor(ttlMs / 2)));
      extender.unref();

      try {
        return await fn();
      } finally {
        clearInterval(extender);
        try {
          await this.run(LOCK_RELEASE, [lockKey, waitKey], [token, this.wakeChannel, `l${key}`]);
        } catch (err) {
          // fn's work is done; the lock expires by itself after ttlMs.
          this.log('warn', 'could not release lock; it will expire', { key, ...errInfo(err) });
        }
      }
    } finally {
      releaseLocal();
    }
  }

  private async acquireRemote(key: string, lockKey: string, waitKey: string, token: string, ttlMs: number, deadline: number): Promise<void> {
    let backoff = BACKOFF_START_MS;
    for (;;) {
      const r = await this.run(LOCK_ACQUIRE, [lockKey, waitKey], [token, String(ttlMs)]);
      if (r === 1) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new LockTimeoutError(key);
      if (this.closed) throw new Error('coordinator is closed');
      // Equal jitter: between half and all of the current backoff; a release wakes us earlier.
      const delay = Math.min(remaining, backoff / 2 + Math.random() * (backoff / 2));
      await this.sleepUntilWoken(key, delay);
      backoff = Math.min(backoff * 2, BACKOFF_CAP_MS);
    }
  }

  private sleepUntilWoken(key: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.lockWakers.get(key) === done) this.lockWakers.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.lockWakers.set(key, done); // one waiter per key per process (local queue)
    });
  }

  // --- pub/sub ----------------------------------------------------------------------

  async publish(topic: string, message: string): Promise<void> {
    this.check();
    await this.client.publish(this.k('ps', topic), message);
  }

  async subscribe(topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    this.check();
    const wrapped = (message: string) => handler(message);
    const release = await this.topicOps.acquire(topic, Infinity);
    try {
      let handlers = this.topics.get(topic);
      if (!handlers) {
        handlers = new Set();
        await this.subscriber.subscribe(this.k('ps', topic), this.listenerFor(topic));
        this.topics.set(topic, handlers);
      }
      handlers.add(wrapped);
    } finally {
      release();
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      await this.unsubscribe(topic, wrapped);
    };
  }

  private listenerFor(topic: string): (message: string) => void {
    let listener = this.topicListeners.get(topic);
    if (!listener) {
      listener = (message: string) => {
        const handlers = this.topics.get(topic);
        if (!handlers) return;
        for (const handler of [...handlers]) {
          try {
            handler(message);
          } catch (err) {
            this.log('error', 'subscriber threw', { topic, ...errInfo(err) });
          }
        }
      };
      this.topicListeners.set(topic, listener);
    }
    return listener;
  }

  private async unsubscribe(topic: string, handler: (message: string) => void): Promise<void> {
    const release = await this.topicOps.acquire(topic, Infinity);
    try {
      const handlers = this.topics.get(topic);
      if (!handlers || !handlers.delete(handler) || handlers.size > 0) return;
      this.topics.delete(topic);
      if (this.closed) return;
      try {
        await this.subscriber.unsubscribe(this.k('ps', topic), this.listenerFor(topic));
        this.topicListeners.delete(topic);
      } catch (err) {
        // Locally unsubscribed already; a stale Redis subscription only costs ignored messages.
        this.log('warn', 'redis unsubscribe failed', { topic, ...errInfo(err) });
      }
    } finally {
      release();
    }
  }

  // --- leases -----------------------------------------------------------------------

  lease(name: string, opts: { ttlMs: number; onAcquired: () => void; onLost: () => void }): Lease {
    this.check();
    const lease = new RedisLease(this.leaseOps, name, this.nextToken(), opts.ttlMs, opts.onAcquired, opts.onLost, this.log);
    this.leases.add(lease);
    lease.start();
    return lease;
  }

  private readonly leaseOps: LeaseOps = {
    acquire: async (name, token, ttlMs) => {
      const r = (await this.run(LEASE_ACQUIRE, [this.k('lease', name)], [token, String(ttlMs)])) as number[];
      return r[0] === 1 ? { acquired: true } : { acquired: false, pttl: Number(r[1]) };
    },
    renew: async (name, token, ttlMs) => (await this.run(EXTEND, [this.k('lease', name)], [token, String(ttlMs)])) === 1,
    release: async (name, token) => {
      await this.run(LEASE_RELEASE, [this.k('lease', name)], [token, this.wakeChannel, `L${name}`]);
    },
    forget: (lease) => {
      this.leases.delete(lease);
    },
  };

  // --- event log (stream + pub/sub, see event-log-redis.ts) ----------------------------

  eventLog(name: string, opts: EventLogOptions = {}): EventLog {
    this.check();
    const topic = `log:${name}`;
    return new RedisEventLog(
      {
        streamKey: this.k('log', name),
        channel: this.k('ps', topic),
        run: (script, keys, args) => this.run(script, keys, args),
        command: (args) => this.client.sendCommand(args) as Promise<unknown>,
        subscribe: (handler) => this.subscribe(topic, handler),
      },
      opts.maxLen,
    );
  }

  // --- rate limiting ----------------------------------------------------------------

  async takeToken(key: string, capacity: number, refillPerSec: number): Promise<{ allowed: boolean; retryAfterMs: number }> {
    this.check();
    const perMs = refillPerSec / 1000;
    // The bucket lives until it would be full again (then it is the same as no bucket).
    const ttl = Math.max(1000, Math.ceil(capacity / perMs));
    const r = (await this.run(TAKE_TOKEN, [this.k('rl', key)], [String(capacity), String(perMs), String(ttl)])) as number[];
    return { allowed: Number(r[0]) === 1, retryAfterMs: Number(r[1]) };
  }

  // --- lifecycle --------------------------------------------------------------------

  async ping(): Promise<void> {
    this.check();
    await this.client.ping();
  }

  /**
   * Graceful shutdown: releases held leases (so another process takes over at once),
   * drops subscriptions and closes both connections. Locks held by running withLock
   * calls are released by those calls if Redis is still reachable, else they expire.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.leases].map((l) => l.release().catch((err) => this.log('warn', 'lease release failed on close', { lease: l.name, ...errInfo(err) }))));
    this.closed = true;
    for (const wake of [...this.lockWakers.values()]) wake();
    this.topics.clear();
    await Promise.all(
      [this.client, this.subscriber].map(async (c) => {
        try {
          await c.close();
        } catch {
          c.destroy();
        }
      }),
    );
  }

  /**
   * Abrupt stop, as if the process had crashed: nothing is released, leases and locks
   * expire after their ttl. For tests that simulate a dying process.
   */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    for (const lease of [...this.leases]) lease.abandon();
    for (const wake of [...this.lockWakers.values()]) wake();
    this.topics.clear();
    this.client.destroy();
    this.subscriber.destroy();
  }
}

interface LeaseOps {
  acquire(name: string, token: string, ttlMs: number): Promise<{ acquired: true } | { acquired: false; pttl: number }>;
  renew(name: string, token: string, ttlMs: number): Promise<boolean>;
  release(name: string, token: string): Promise<void>;
  forget(lease: RedisLease): void;
}

/**
 * Tries to take the lease every ttl/3 (or right when the holder's key expires or is
 * released) and, once held, renews it every ttl/3. Gives it up (onLost) when a renewal
 * finds another holder, or when renewals have failed for so long that the key may expire
 * before the next attempt: we never believe we hold it past `lastConfirmed + ttl - ttl/3`.
 */
class RedisLease implements Lease {
  private holding = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private wakeRequested = false;
  /** Send time of the last successful acquire/renew: the key lives at least until this + ttl. */
  private confirmedAt = 0;
  private readonly ttlMs: number;
  private readonly interval: number;

  constructor(
    private readonly ops: LeaseOps,
    readonly name: string,
    private readonly token: string,
    ttlMs: number,
    private readonly onAcquired: () => void,
    private readonly onLost: () => void,
    private readonly log: LogFn,
  ) {
    this.ttlMs = Math.max(30, Math.ceil(ttlMs));
    this.interval = Math.max(10, Math.floor(this.ttlMs / 3));
  }

  held(): boolean {
    return this.holding;
  }

  start(): void {
    this.schedule(0);
  }

  /** Another process released this lease: try now instead of at the next tick. */
  wake(): void {
    if (this.holding || this.stopped) return;
    if (this.inFlight) this.wakeRequested = true; // the pending attempt may have raced the release
    else this.schedule(0);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  private tick(): void {
    if (this.stopped) return;
    if (this.inFlight) {
      // Previous command still pending (Redis slow or half-open): only check the deadline.
      this.checkDeadline();
      this.schedule(this.interval);
      return;
    }
    const p = this.holding ? this.renew() : this.tryAcquire();
    this.inFlight = p.finally(() => {
      this.inFlight = undefined;
    });
  }

  private async tryAcquire(): Promise<void> {
    const sentAt = Date.now();
    let next = this.interval;
    this.wakeRequested = false;
    try {
      const r = await this.ops.acquire(this.name, this.token, this.ttlMs);
      if (this.stopped) return;
      if (r.acquired) {
        this.holding = true;
        this.confirmedAt = sentAt;
        this.call(this.onAcquired, 'onAcquired');
      } else if (this.wakeRequested) {
        next = 0;
      } else if (r.pttl >= 0) {
        // Try again right when the holder's key would expire, if that is sooner.
        next = Math.min(this.interval, r.pttl + 2);
      }
    } catch (err) {
      this.log('debug', 'lease acquire failed', { lease: this.name, err: err instanceof Error ? err.message : String(err) });
    }
    this.schedule(next);
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    try {
      const ok = await this.ops.renew(this.name, this.token, this.ttlMs);
      if (this.stopped || !this.holding) return;
      if (ok) {
        this.confirmedAt = sentAt;
        this.schedule(this.interval);
      } else {
        this.log('warn', 'lease taken over by another process', { lease: this.name });
        this.lose();
        this.schedule(0);
      }
    } catch (err) {
      if (this.stopped || !this.holding) return;
      this.log('warn', 'lease renewal failed', { lease: this.name, err: err instanceof Error ? err.message : String(err) });
      this.checkDeadline();
      this.schedule(this.interval);
    }
  }

  private checkDeadline(): void {
    // Lose it one tick before the key could expire, so two processes never both hold it.
    if (this.holding && Date.now() >= this.confirmedAt + this.ttlMs - this.interval) {
      this.log('warn', 'lease given up: redis unreachable for too long', { lease: this.name });
      this.lose();
    }
  }

  private lose(): void {
    this.holding = false;
    this.call(this.onLost, 'onLost');
  }

  private call(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.log('error', `lease ${what} handler threw`, { lease: this.name, err: err instanceof Error ? err.message : String(err) });
    }
  }

  async release(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.ops.forget(this);
    await this.inFlight;
    this.holding = false;
    // Always compare-and-delete: an acquire may have succeeded just as we stopped.
    await this.ops.release(this.name, this.token);
  }

  /** Stops without releasing (simulated crash). */
  abandon(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ops.forget(this);
  }
}
