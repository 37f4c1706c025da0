// One suite, two backends: in-process memory always, Redis when TEST_REDIS_URL is set
// (e.g. TEST_REDIS_URL=redis://127.0.0.1:6379). Each Redis run uses its own key prefix
// and deletes its keys afterwards.

import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { createClient } from 'redis';
import {
  createCoordinator,
  LockTimeoutError,
  MemoryCoordinator,
  MemoryHub,
  KeyedMutex,
  type Coordinator,
} from '../../gateway/coordination/index.js';
import { RedisCoordinator } from '../../gateway/coordination/redis.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

// --- helpers ---------------------------------------------------------------------------

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves with the value of `p`, or rejects if it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what} did not happen within ${ms} ms`)))]);
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

let seq = 0;
const uniq = (s: string) => `${s}-${++seq}`;

// --- backends --------------------------------------------------------------------------

interface Backend {
  name: string;
  /** A new coordinator sharing state with the others of the current test ("another process"). */
  make(): Promise<Coordinator>;
  /** Kills a coordinator without releasing anything, like a crashed process (Redis only). */
  crash?(c: Coordinator): void;
  beforeEach?(): void;
  after?(): Promise<void>;
}

function memoryBackend(): Backend {
  let hub = new MemoryHub();
  return {
    name: 'memory',
    beforeEach: () => {
      hub = new MemoryHub();
    },
    make: async () => new MemoryCoordinator({ hub }),
  };
}

function redisBackend(url: string): Backend {
  const prefix = `chatgate-test:${randomBytes(6).toString('hex')}:`;
  return {
    name: 'redis',
    make: () => RedisCoordinator.connect({ url, prefix }),
    crash: (c) => (c as RedisCoordinator).destroy(),
    after: async () => {
      const client = createClient({ url });
      await client.connect();
      for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
        if (keys.length) await client.del(keys);
      }
      await client.quit();
    },
  };
}

// --- the shared suite ------------------------------------------------------------------

function coordinatorSuite(backend: Backend): void {
  describe(`coordination (${backend.name})`, function () {
    let made: Coordinator[] = [];
    const make = async () => {
      const c = await backend.make();
      made.push(c);
      return c;
    };
    let a: Coordinator;
    let b: Coordinator;

    beforeEach(async () => {
      backend.beforeEach?.();
      a = await make();
      b = await make();
    });
    afterEach(async () => {
      await Promise.all(made.map((c) => c.close()));
      made = [];
    });
    if (backend.after) after(backend.after);

    it('reports its kind and answers ping', async () => {
      expect(a.kind).to.equal(backend.name);
      await a.ping();
    });

    describe('dedupe', () => {
      it('is true for the first caller and false afterwards, in any instance', async () => {
        const key = uniq('msg');
        expect(await a.dedupe(key, 10_000)).to.equal(true);
        expect(await a.dedupe(key, 10_000)).to.equal(false);
        expect(await b.dedupe(key, 10_000)).to.equal(false);
        expect(await b.dedupe(uniq('msg'), 10_000)).to.equal(true);
      });

      it('has exactly one winner among concurrent callers', async () => {
        const key = uniq('msg');
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).dedupe(key, 10_000)));
        expect(results.filter(Boolean)).to.have.length(1);
      });

      it('accepts the key again once the TTL has passed', async () => {
        const key = uniq('msg');
        expect(await a.dedupe(key, 40)).to.equal(true);
        expect(await b.dedupe(key, 40)).to.equal(false);
        await waitFor(() => b.dedupe(key, 40), 2000, 'dedupe key to expire');
      });

      it('forget lets the key be accepted again', async () => {
        const key = uniq('msg');
        expect(await a.dedupe(key, 10_000)).to.equal(true);
        await b.forget(key);
        expect(await a.dedupe(key, 10_000)).to.equal(true);
        expect(await a.dedupe(key, 10_000)).to.equal(false);
        await a.forget(uniq('never-seen')); // no error
      });
    });

    describe('withLock', () => {
      it('excludes 50 concurrent callers of one key, and runs them all', async () => {
        const key = uniq('conv');
        let inside = 0;
        let maxInside = 0;
        let ran = 0;
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            a.withLock(key, async () => {
              inside++;
              maxInside = Math.max(maxInside, inside);
              await tick();
              inside--;
              ran++;
              return i;
            }),
          ),
        );
        expect(maxInside).to.equal(1);
        expect(ran).to.equal(50);
        expect(results).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
      });

      it('excludes callers of two instances (two processes) on the same key', async () => {
        const key = uniq('conv');
        let inside = 0;
        let maxInside = 0;
        let ran = 0;
        await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? a : b).withLock(key, async () => {
              inside++;
              maxInside = Math.max(maxInside, inside);
              await sleep(1);
              inside--;
              ran++;
            }),
          ),
        );
        expect(maxInside).to.equal(1);
        expect(ran).to.equal(40);
      });

      it('runs different keys in parallel', async () => {
        const k1 = uniq('conv');
        const k2 = uniq('conv');
        const in1 = deferred();
        const in2 = deferred();
        // Each holder waits for the other to be inside too: only possible if both run at once.
        await within(
          Promise.all([
            a.withLock(k1, async () => {
              in1.resolve();
              await in2.promise;
            }),
            b.withLock(k2, async () => {
              in2.resolve();
              await in1.promise;
            }),
            a.withLock(uniq('conv'), async () => {
              await in1.promise;
              await in2.promise;
            }),
          ]),
          2000,
          'parallel locks',
        );
      });

      it('releases the lock when fn throws', async () => {
        const key = uniq('conv');
        const boom = new Error('boom');
        let caught: unknown;
        try {
          await a.withLock(key, async () => {
            throw boom;
          });
        } catch (err) {
          caught = err;
        }
        expect(caught).to.equal(boom);
        expect(await a.withLock(key, async () => 'again', { waitMs: 500 })).to.equal('again');
        expect(await b.withLock(key, async () => 'other', { waitMs: 500 })).to.equal('other');
      });

      it('throws LockTimeoutError when the lock is not had within waitMs', async () => {
        const key = uniq('conv');
        const entered = deferred();
        const leave = deferred();
        const holder = a.withLock(key, async () => {
          entered.resolve();
          await leave.promise;
          return 'held';
        });
        await entered.promise;
        let sameInstance: unknown;
        let otherInstance: unknown;
        const started = Date.now();
        await Promise.all([
          a.withLock(key, async () => 'nope', { waitMs: 60 }).catch((err) => (sameInstance = err)),
          b.withLock(key, async () => 'nope', { waitMs: 60 }).catch((err) => (otherInstance = err)),
        ]);
        expect(Date.now() - started).to.be.lessThan(1000);
        expect(sameInstance).to.be.instanceOf(LockTimeoutError);
        expect(otherInstance).to.be.instanceOf(LockTimeoutError);
        leave.resolve();
        expect(await holder).to.equal('held');
        // A timed-out waiter does not keep the key blocked.
        expect(await a.withLock(key, async () => 'free', { waitMs: 500 })).to.equal('free');
        expect(await b.withLock(key, async () => 'free', { waitMs: 500 })).to.equal('free');
      });

      it('keeps the lock while fn runs longer than its ttl', async () => {
        const key = uniq('conv');
        const entered = deferred();
        const holder = a.withLock(
          key,
          async () => {
            entered.resolve();
            await sleep(300);
          },
          { ttlMs: 90 },
        );
        await entered.promise;
        let err: unknown;
        await b.withLock(key, async () => undefined, { waitMs: 200 }).catch((e) => (err = e));
        expect(err).to.be.instanceOf(LockTimeoutError);
        await holder;
        await b.withLock(key, async () => undefined, { waitMs: 500 });
      });

      if (backend.crash) {
        it("a crashed holder's lock is taken over after its ttl", async () => {
          const key = uniq('conv');
          const entered = deferred();
          void a.withLock(key, async () => {
            entered.resolve();
            await new Promise(() => {}); // never finishes: the process dies holding it
          }, { ttlMs: 200 }).catch(() => {});
          await entered.promise;
          backend.crash!(a);
          const started = Date.now();
          expect(await b.withLock(key, async () => 'mine', { waitMs: 2000 })).to.equal('mine');
          expect(Date.now() - started).to.be.lessThan(600);
        });
      }
    });

    describe('publish / subscribe', () => {
      it('delivers to subscribers in every instance, including the publisher', async () => {
        const topic = uniq('events');
        const gotA: string[] = [];
        const gotB: string[] = [];
        const gotB2: string[] = [];
        await a.subscribe(topic, (m) => gotA.push(m));
        await b.subscribe(topic, (m) => gotB.push(m));
        await b.subscribe(topic, (m) => gotB2.push(m));
        await a.publish(topic, 'hello');
        await waitFor(() => gotA.length === 1 && gotB.length === 1 && gotB2.length === 1, 2000, 'delivery');
        expect([gotA, gotB, gotB2]).to.deep.equal([['hello'], ['hello'], ['hello']]);
        await b.publish(uniq('other-topic'), 'ignored');
        await b.publish(topic, 'second');
        await waitFor(() => gotA.length === 2 && gotB.length === 2, 2000, 'second delivery');
        expect(gotA).to.deep.equal(['hello', 'second']);
      });

      it('stops delivering after unsubscribe', async () => {
        const topic = uniq('events');
        const gotA: string[] = [];
        const gotB: string[] = [];
        const gotB2: string[] = [];
        await a.subscribe(topic, (m) => gotA.push(m));
        const unsubB = await b.subscribe(topic, (m) => gotB.push(m));
        const unsubB2 = await b.subscribe(topic, (m) => gotB2.push(m));
        await unsubB();
        await unsubB(); // idempotent
        await a.publish(topic, 'one');
        // gotB2 shares b's subscription with gotB: once it has the message, gotB would have too.
        await waitFor(() => gotA.length === 1 && gotB2.length === 1, 2000, 'delivery');
        expect(gotB).to.deep.equal([]);
        await unsubB2();
        await a.publish(topic, 'two');
        await waitFor(() => gotA.length === 2, 2000, 'delivery to a');
        await sleep(20);
        expect(gotB2).to.deep.equal(['one']);
      });

      it('a throwing handler does not stop the others', async () => {
        const topic = uniq('events');
        const got: string[] = [];
        await a.subscribe(topic, () => {
          throw new Error('bad handler');
        });
        await a.subscribe(topic, (m) => got.push(m));
        await b.publish(topic, 'x');
        await waitFor(() => got.length === 1, 2000, 'delivery');
      });
    });

    describe('leases', () => {
      const TTL = 300;

      function watchLease(c: Coordinator, name: string) {
        const acquired = deferred();
        const lost = deferred();
        const events: string[] = [];
        const lease = c.lease(name, {
          ttlMs: TTL,
          onAcquired: () => {
            events.push('acquired');
            acquired.resolve();
          },
          onLost: () => {
            events.push('lost');
            lost.resolve();
          },
        });
        return { lease, acquired: acquired.promise, lost: lost.promise, events };
      }

      it('exactly one of two instances holds it; release hands it to the other', async () => {
        const name = uniq('scheduler');
        const la = watchLease(a, name);
        const lb = watchLease(b, name);
        const first = await within(Promise.race([la.acquired.then(() => la), lb.acquired.then(() => lb)]), 1000, 'first acquisition');
        const second = first === la ? lb : la;
        expect(first.lease.held()).to.equal(true);
        expect(second.lease.held()).to.equal(false);
        // Renewals keep it with the first holder beyond its ttl.
        await sleep(TTL * 1.5);
        expect(first.lease.held()).to.equal(true);
        expect(second.lease.held()).to.equal(false);
        expect(first.events).to.deep.equal(['acquired']);
        expect(second.events).to.deep.equal([]);
        await first.lease.release();
        expect(first.lease.held()).to.equal(false);
        await within(second.acquired, TTL, 'takeover after release');
        expect(second.lease.held()).to.equal(true);
        expect(first.events).to.deep.equal(['acquired']); // a voluntary release is not a loss
      });

      it('can be taken again by the same instance after release', async () => {
        const name = uniq('imap');
        const l1 = watchLease(a, name);
        await within(l1.acquired, 1000, 'acquisition');
        await l1.lease.release();
        await l1.lease.release(); // idempotent
        const l2 = watchLease(a, name);
        await within(l2.acquired, 1000, 're-acquisition');
        expect(l2.lease.held()).to.equal(true);
      });

      it('close() releases held leases to the other instance', async () => {
        const name = uniq('wweb');
        const la = watchLease(a, name);
        await within(la.acquired, 1000, 'acquisition');
        const lb = watchLease(b, name);
        await a.close();
        await within(lb.acquired, TTL, 'takeover after close');
      });

      if (backend.crash) {
        it('a holder that stops renewing (dies) is replaced within the ttl', async () => {
          const name = uniq('scheduler');
          const la = watchLease(a, name);
          await within(la.acquired, 1000, 'acquisition');
          const lb = watchLease(b, name);
          await sleep(20);
          expect(lb.lease.held()).to.equal(false);
          const died = Date.now();
          backend.crash!(a);
          await within(lb.acquired, TTL * 2, 'takeover after death');
          expect(Date.now() - died).to.be.at.most(TTL + 100);
          expect(lb.lease.held()).to.equal(true);
        });
      }
    });

    it('rejects operations after close', async () => {
      await a.close();
      await a.close(); // idempotent
      let err: unknown;
      await a.ping().catch((e) => (err = e));
      expect(err).to.be.instanceOf(Error);
    });
  });
}

// --- registration ----------------------------------------------------------------------

coordinatorSuite(memoryBackend());
const redisUrl = process.env.TEST_REDIS_URL;
if (redisUrl) coordinatorSuite(redisBackend(redisUrl));

describe('coordination (memory internals)', () => {
  it('KeyedMutex serves waiters in order and keeps no entry for idle keys', async () => {
    const m = new KeyedMutex();
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const release = await m.acquire('k', 1000);
        order.push(i);
        await tick();
        release();
        release(); // double release is harmless
      }),
    );
    expect(order).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
    expect(m.size).to.equal(0);
  });

  it('KeyedMutex removes a timed-out waiter from the queue', async () => {
    const m = new KeyedMutex();
    const release = await m.acquire('k', 1000);
    let err: unknown;
    await m.acquire('k', 10).catch((e) => (err = e));
    expect(err).to.be.instanceOf(LockTimeoutError);
    release();
    expect(m.size).to.equal(0);
    (await m.acquire('k', 10))();
    expect(m.size).to.equal(0);
  });

  it('prunes expired dedupe keys (bounded memory)', async () => {
    let now = 1_000;
    const hub = new MemoryHub({ now: () => now });
    const c = new MemoryCoordinator({ hub });
    for (let i = 0; i < 1000; i++) await c.dedupe(`k${i}`, 100 + (i % 7));
    expect(hub.seen.size).to.equal(1000);
    now += 200;
    expect(await c.dedupe('fresh', 100)).to.equal(true);
    expect(hub.seen.size).to.equal(1);
    expect(await c.dedupe('k1', 100)).to.equal(true);
  });

  it('createCoordinator picks memory without a Redis URL', async () => {
    const c = await createCoordinator({});
    expect(c.kind).to.equal('memory');
    await c.close();
  });
});

if (redisUrl) {
  describe('coordination (redis outages)', function () {
    const prefix = `chatgate-test:${randomBytes(6).toString('hex')}:`;
    const made: Coordinator[] = [];
    after(async () => {
      await Promise.all(made.map((c) => c.close().catch(() => {})));
      const client = createClient({ url: redisUrl });
      await client.connect();
      for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) if (keys.length) await client.del(keys);
      await client.quit();
    });

    it('createCoordinator picks Redis with a URL and rejects when Redis is unreachable', async () => {
      const c = await createCoordinator({ redisUrl, prefix });
      made.push(c);
      expect(c.kind).to.equal('redis');
      let err: unknown;
      await createCoordinator({ redisUrl: 'redis://127.0.0.1:1', prefix, connectTimeoutMs: 200 }).catch((e) => (err = e));
      expect(err).to.be.instanceOf(Error);
    });

    it('operations reject while Redis is unreachable and work again afterwards; subscriptions come back', async () => {
      const proxy = await startTcpProxy(redisUrl);
      const logs: string[] = [];
      const c = await RedisCoordinator.connect({ url: proxy.url, prefix, log: (level, msg) => logs.push(`${level} ${msg}`) });
      const direct = await RedisCoordinator.connect({ url: redisUrl, prefix });
      made.push(c, direct);
      try {
        const topic = uniq('events');
        const got: string[] = [];
        await c.subscribe(topic, (m) => got.push(m));
        expect(await c.dedupe(uniq('m'), 10_000)).to.equal(true);

        proxy.cut();
        await waitFor(async () => c.dedupe(uniq('m'), 10_000).then(() => false, () => true), 1000, 'rejection');
        let err: unknown;
        await c.withLock(uniq('conv'), async () => 1).catch((e) => (err = e));
        expect(err).to.be.instanceOf(Error);
        await c.ping().then(() => expect.fail('ping should reject'), () => {});

        proxy.restore();
        await waitFor(async () => c.ping().then(() => true, () => false), 5000, 'reconnection');
        expect(await c.withLock(uniq('conv'), async () => 'ok')).to.equal('ok');
        // The subscriber reconnects and resubscribes by itself.
        await waitFor(async () => {
          await direct.publish(topic, 'back');
          return got.length > 0;
        }, 5000, 'resubscription');
        expect(logs.some((l) => l.startsWith('warn redis'))).to.equal(true);
      } finally {
        await proxy.close();
      }
    });

    it('a lease holder that cannot reach Redis gives the lease up before it expires', async () => {
      const proxy = await startTcpProxy(redisUrl);
      const c = await RedisCoordinator.connect({ url: proxy.url, prefix });
      const direct = await RedisCoordinator.connect({ url: redisUrl, prefix });
      made.push(c, direct);
      try {
        const name = uniq('scheduler');
        const ttlMs = 300;
        const acquiredC = deferred();
        const lostC = deferred<number>();
        const acquiredD = deferred<number>();
        c.lease(name, { ttlMs, onAcquired: () => acquiredC.resolve(), onLost: () => lostC.resolve(Date.now()) });
        await within(acquiredC.promise, 1000, 'acquisition');
        direct.lease(name, { ttlMs, onAcquired: () => acquiredD.resolve(Date.now()), onLost: () => {} });
        proxy.cut();
        const lostAt = await within(lostC.promise, ttlMs * 2, 'onLost');
        const takenAt = await within(acquiredD.promise, ttlMs * 2, 'takeover');
        expect(lostAt).to.be.at.most(takenAt); // never two holders at once
      } finally {
        await proxy.close();
      }
    });
  });
}
