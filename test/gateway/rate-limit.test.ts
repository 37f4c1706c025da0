// API rate limiting per token (gateway/http/rate-limit.ts): the API_RATE_LIMIT parser,
// the token bucket of both coordinators (shared between coordinators of one deployment:
// one hub in memory, one Redis prefix across processes), and the gateway answering 429
// with Retry-After to one token while other tokens and the webhooks go on.

import { expect } from 'chai';
import { MemoryCoordinator, MemoryHub, type Coordinator } from '../../gateway/coordination/index.js';
import { RedisCoordinator } from '../../gateway/coordination/redis.js';
import { parseRateLimit } from '../../gateway/http/rate-limit.js';
import { backends, dropRedisPrefix, newPhone, newRedisPrefix, newWamid, startGateway, waTextBody, type TestGateway } from '../helpers/gateway-harness.js';

describe('API_RATE_LIMIT parsing', () => {
  it('reads count/period; off, 0 and empty disable it; garbage is refused', () => {
    expect(parseRateLimit('600/min')).to.deep.equal({ capacity: 600, refillPerSec: 10 });
    expect(parseRateLimit('10/s')).to.deep.equal({ capacity: 10, refillPerSec: 10 });
    expect(parseRateLimit('7200 / hour')).to.deep.equal({ capacity: 7200, refillPerSec: 2 });
    for (const off of ['off', '0', '', undefined, 'none']) expect(parseRateLimit(off), String(off)).to.equal(null);
    for (const bad of ['600', '600/constructor', '600/fortnight', '-5/min', 'ten/min', '0/min']) expect(() => parseRateLimit(bad), bad).to.throw(/API_RATE_LIMIT/);
  });
});

describe('token bucket (memory coordinator)', () => {
  it('starts full, refuses when empty with the time until the next token, refills with the clock, and is shared through the hub', async () => {
    let now = 1_000_000;
    const hub = new MemoryHub({ now: () => now });
    const a = new MemoryCoordinator({ hub });
    const b = new MemoryCoordinator({ hub });
    for (let i = 0; i < 3; i++) expect(await (i % 2 ? a : b).takeToken('k', 3, 1)).to.deep.equal({ allowed: true, retryAfterMs: 0 });
    expect(await a.takeToken('k', 3, 1)).to.deep.equal({ allowed: false, retryAfterMs: 1000 });
    expect((await b.takeToken('k', 3, 1)).allowed, 'the other process sees the same bucket').to.equal(false);
    expect((await a.takeToken('other', 3, 1)).allowed, 'another key has its own bucket').to.equal(true);
    now += 400;
    expect(await a.takeToken('k', 3, 1)).to.deep.equal({ allowed: false, retryAfterMs: 600 });
    now += 600;
    expect((await a.takeToken('k', 3, 1)).allowed).to.equal(true);
    expect((await a.takeToken('k', 3, 1)).allowed).to.equal(false);
    now += 60_000;
    for (let i = 0; i < 3; i++) expect((await a.takeToken('k', 3, 1)).allowed, 'refilled to capacity, not beyond').to.equal(true);
    expect((await a.takeToken('k', 3, 1)).allowed).to.equal(false);
    await a.close();
    await b.close();
  });
});

if (process.env.TEST_REDIS_URL) {
  describe('token bucket (Redis coordinator)', () => {
    it('two processes (two coordinators on one prefix) share one bucket per key; the bucket key expires', async () => {
      const prefix = newRedisPrefix();
      const a = await RedisCoordinator.connect({ url: process.env.TEST_REDIS_URL!, prefix });
      const b = await RedisCoordinator.connect({ url: process.env.TEST_REDIS_URL!, prefix });
      try {
        // 5 per hour: nothing refills noticeably while the test runs.
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).takeToken('k', 5, 5 / 3600)));
        expect(results.filter((r) => r.allowed)).to.have.length(5);
        for (const r of results.filter((x) => !x.allowed)) expect(r.retryAfterMs).to.be.within(1, 720_000);
        expect((await a.takeToken('k2', 5, 5 / 3600)).allowed).to.equal(true);
        const { createClient } = await import('redis');
        const c = createClient({ url: process.env.TEST_REDIS_URL });
        await c.connect();
        const ttl = await c.pTTL(`${prefix}rl:k`);
        await c.quit();
        expect(ttl).to.be.within(1, 3_600_000);
      } finally {
        await a.close();
        await b.close();
        await dropRedisPrefix(prefix);
      }
    });
  });
}

for (const backend of backends()) {
  describe(`API rate limit on the gateway (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    before(async () => {
      t = await startGateway({ backend, env: { API_RATE_LIMIT: '5/hour' } });
    });
    after(async () => t?.stop());

    it('answers 429 with Retry-After once a token used its budget; other tokens and webhooks are not affected', async () => {
      for (let i = 0; i < 4; i++) expect((await t.api('GET', '/api/tickets')).status).to.equal(200);
      const agent = await t.api('POST', '/api/agents', { name: 'Limited Agent', email: `rl-${Date.now()}@example.com` });
      expect(agent.status).to.equal(201);
      const res = await fetch(`${t.url}/api/tickets`, { headers: { authorization: `Bearer ${t.adminToken}` } });
      expect(res.status).to.equal(429);
      expect(Number(res.headers.get('retry-after'))).to.be.within(1, 720);
      expect(await res.json()).to.have.nested.property('error.code', 'rate_limited');
      // ?token= counts against the same bucket.
      expect((await t.api('GET', `/api/tickets?token=${t.adminToken}`, undefined, null)).status).to.equal(429);
      expect((await t.api('GET', '/api/tickets', undefined, agent.body.token)).status).to.equal(200);
      expect((await t.webhook(waTextBody({ from: newPhone(), id: newWamid(), text: 'hi' }))).status).to.equal(200);
      expect((await t.api('GET', '/api/tickets', undefined, null)).status, 'no token: authentication answers').to.equal(401);
    });
  });
}
