// Bad input (issue 9): thousands of malformed, oversized, deeply nested, wrong-typed and
// hostile webhook bodies (validly signed and not) and API bodies thrown at an in-process
// gateway. Never a crash, never a 5xx for input errors, memory bounded, nothing stored
// from a refused payload (row counts before/after). A seeded PRNG makes every failure
// reproducible: FUZZ_SEED=<seed printed in the suite title> npx mocha test/gateway/fuzz.test.ts

import { expect } from 'chai';
import { signMetaBody } from '../../adapters/meta/signature.js';
import { APP_SECRET, backends, newPhone, startGateway, waTextBody, waStatusBody, waitFor, type TestGateway } from '../helpers/gateway-harness.js';
import { prng } from '../../bench/prng.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const WEBHOOKS = Number(process.env.FUZZ_WEBHOOKS ?? 2000);
const API_CALLS = Number(process.env.FUZZ_API ?? 1000);

class Fuzz {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  string(): string {
    switch (this.int(10)) {
      case 0: return '';
      case 1: return 'x'.repeat(this.pick([255, 256, 4096, 70_000, 300_000]));
      case 2: return String.fromCharCode(...Array.from({ length: 1 + this.int(40) }, () => this.int(0x10000)));
      case 3: return this.pick(['\u0000', '\ud800', '\uffff', '\u202e', '🙂'.repeat(50), '\r\n\t', '%00', '%s%s%n']);
      case 4: return this.pick(["'; DROP TABLE tickets; --", '" OR 1=1 --', '<script>alert(1)</script>', '${process.exit()}', '{{constructor.constructor("x")()}}', '../../../../etc/passwd']);
      case 5: return this.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']);
      case 6: return this.pick(['NaN', 'Infinity', '-1', '1e309', '0x10', '9007199254740993', '2026-13-45T99:99:99Z']);
      case 7: return this.pick(['hi', 'menu', 'agent', '2', 'order', 'whatsapp', 'instagram', 'email', 'internal', 'closed', 'pending', 'admin', 'high']);
      default: return Array.from({ length: this.int(30) }, () => String.fromCharCode(32 + this.int(95))).join('');
    }
  }
  number(): number {
    return this.pick([0, -0, -1, 1, 1.5, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, -1e308, Number.MIN_VALUE, this.int(1e9)]);
  }
  value(depth = 0): unknown {
    const k = this.int(depth > 4 ? 6 : 9);
    if (k === 0) return null;
    if (k === 1) return this.chance(0.5);
    if (k === 2 || k === 3) return this.number();
    if (k === 4 || k === 5) return this.string();
    if (k === 6) return Array.from({ length: this.int(6) }, () => this.value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = this.int(6); i > 0; i--) o[this.chance(0.2) ? this.pick(['__proto__', 'constructor', 'prototype']) : this.string().slice(0, 40)] = this.value(depth + 1);
    return o;
  }
  /** A valid WhatsApp/Instagram-shaped body with one spot replaced, deleted or retyped. */
  mutate(doc: unknown): unknown {
    const copy = JSON.parse(JSON.stringify(doc));
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      paths.push(p);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [key, x] of Object.entries(v)) walk(x, [...p, key]);
    };
    walk(copy, []);
    for (let n = 1 + this.int(3); n > 0; n--) {
      const path = this.pick(paths);
      if (!path.length) return this.value();
      let parent: any = copy;
      for (const key of path.slice(0, -1)) parent = parent?.[key];
      if (!parent || typeof parent !== 'object') continue;
      const last = path[path.length - 1]!;
      if (this.chance(0.25)) delete parent[last];
      else parent[last] = this.value(2);
    }
    return copy;
  }
  nested(): string {
    const depth = this.pick([100, 1000, 10_000, 200_000]);
    return this.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  }
}

const IG_ACCOUNT = '17841400000000000';

function validBodies(f: Fuzz): unknown[] {
  const from = newPhone();
  const id = `wamid.FUZZ${f.int(1e12)}`;
  const wa = waTextBody({ from, id, text: f.string().slice(0, 200) || 'hi' });
  const interactive = waTextBody({ from, id, text: 'x' }) as any;
  interactive.entry[0].changes[0].value.messages[0] = { from, id, timestamp: '1700000000', type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'welcome:menu:faq', title: 'FAQ' } } };
  const image = waTextBody({ from, id, text: 'x' }) as any;
  image.entry[0].changes[0].value.messages[0] = { from, id, timestamp: '1700000000', type: 'image', image: { id: '123', mime_type: 'image/jpeg', sha256: 'abc', caption: 'c' } };
  const ig = { object: 'instagram', entry: [{ id: IG_ACCOUNT, time: 1700000000, messaging: [{ sender: { id: '99' + f.int(1e9) }, recipient: { id: IG_ACCOUNT }, timestamp: 1700000000000, message: { mid: `m_${f.int(1e12)}`, text: 'hello' } }] }] };
  return [wa, interactive, image, waStatusBody(`wamid.X${f.int(1e9)}`, from, f.pick(['delivered', 'read', 'failed', 'sent', 'bogus'])), ig];
}

/** encodeURIComponent throws on lone surrogates: those become '?'. */
const enc = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'));

async function post(url: string, path: string, body: string | Buffer, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await fetch(url + path, { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) });
  return { status: res.status, text: await res.text() };
}

for (const backend of backends()) {
  describe(`fuzz: hostile webhook and API bodies (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'}; seed ${SEED})`, function () {
    this.timeout(120_000);
    let t: TestGateway;
    const crashes: unknown[] = [];
    const onCrash = (err: unknown) => crashes.push(err);

    before(async () => {
      process.on('uncaughtException', onCrash);
      process.on('unhandledRejection', onCrash);
      t = await startGateway({ backend, env: { API_RATE_LIMIT: 'off', INSTAGRAM_ACCOUNT_ID: IG_ACCOUNT, INSTAGRAM_ACCESS_TOKEN: 'ig-token' } });
    });
    after(async () => {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
      await t?.stop();
    });

    const inboundCount = async () => Number((await t.query('SELECT COUNT(*) AS n FROM inbound'))[0].n);
    const rowCounts = async () => {
      const out: Record<string, number> = {};
      for (const table of ['tickets', 'messages', 'timeline', 'users', 'outbox', 'contacts', 'settings']) out[table] = Number((await t.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
      return out;
    };

    it(`${WEBHOOKS} webhook bodies: no 5xx, no crash, nothing stored unless acknowledged with accepted > 0`, async () => {
      const f = new Fuzz(prng(SEED));
      const heapBefore = process.memoryUsage().heapUsed;
      const statuses: Record<number, number> = {};
      for (let i = 0; i < WEBHOOKS; i++) {
        const channel = f.chance(0.8) ? 'whatsapp' : 'instagram';
        let raw: Buffer;
        const kind = f.int(10);
        if (kind <= 4) raw = Buffer.from(JSON.stringify(f.mutate(f.pick(validBodies(f)))) ?? 'null');
        else if (kind === 5) raw = Buffer.from(JSON.stringify(f.value()) ?? 'null');
        else if (kind === 6) raw = Buffer.from(f.nested());
        else if (kind === 7) raw = Buffer.from(JSON.stringify(f.pick(validBodies(f))).slice(0, f.int(200)));
        else if (kind === 8) raw = Buffer.from(Array.from({ length: f.int(2000) }, () => f.int(256)));
        else raw = f.chance(0.1) ? Buffer.alloc(1024 * 1024 + 10, 0x20) : Buffer.from(JSON.stringify(validBodies(f)[0]).replace('"hi"', JSON.stringify(f.string())));
        const signing = f.int(6);
        const headers: Record<string, string> = { 'content-type': f.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) };
        if (signing <= 3) headers['x-hub-signature-256'] = signMetaBody(raw, APP_SECRET);
        else if (signing === 4) headers['x-hub-signature-256'] = f.pick(['sha256=' + '0'.repeat(64), 'sha1=abc', '', 'sha256=zz', signMetaBody(raw, 'wrong-secret')]);
        const before = await inboundCount();
        const res = await post(t.url, `/webhooks/${channel}`, raw, headers);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        const context = `#${i} (seed ${SEED}) ${channel} ${res.status} ${res.text.slice(0, 200)} body ${raw.toString('utf8', 0, 300)}`;
        expect(res.status, context).to.be.below(500);
        let accepted = 0;
        if (res.status === 200) {
          const body = JSON.parse(res.text);
          expect(body.status, context).to.equal('ok');
          accepted = body.accepted;
        } else {
          expect(JSON.parse(res.text), context).to.have.nested.property('error.code').that.is.a('string');
          expect(headers['x-hub-signature-256'] === signMetaBody(raw, APP_SECRET) || res.status !== 200, 'unsigned never acknowledged').to.equal(true);
        }
        expect(await inboundCount(), `rows stored: ${context}`).to.equal(before + accepted);
      }
      expect(statuses[401] ?? 0, JSON.stringify(statuses)).to.be.above(0);
      expect(statuses[403] ?? 0, JSON.stringify(statuses)).to.be.above(0);
      expect(statuses[400] ?? 0, JSON.stringify(statuses)).to.be.above(0);
      expect(statuses[200] ?? 0, JSON.stringify(statuses)).to.be.above(0);
      // What was accepted gets processed (or fails cleanly), and the gateway still answers.
      const stuck = async () => t.query("SELECT id, status, attempts, error FROM inbound WHERE status IN ('received', 'stored') LIMIT 3");
      await waitFor(async () => (await stuck()).length === 0, 60_000, 'processing of the accepted fuzz').catch(async (err) => {
        throw new Error(`${err.message}: ${JSON.stringify(await stuck())}`);
      });
      const failed = await t.query("SELECT id, error FROM inbound WHERE status = 'failed' LIMIT 3");
      expect(failed, 'accepted messages that could not be processed').to.deep.equal([]);
      expect((await fetch(`${t.url}/healthz`)).status).to.equal(200);
      expect(crashes, String(crashes[0])).to.deep.equal([]);
      expect(process.memoryUsage().heapUsed - heapBefore, 'heap growth').to.be.below(300 * 1024 * 1024);
    });

    it(`${API_CALLS} API bodies: no 5xx, no crash, a refused request writes nothing`, async () => {
      const f = new Fuzz(prng(SEED + 1));
      const created = await t.api('POST', '/api/tickets', { subject: 'fuzz target' });
      expect(created.status).to.equal(201);
      const id = created.body.id;
      const routes: [string, string][] = [
        ['POST', '/api/tickets'], ['PATCH', `/api/tickets/${id}`], ['POST', `/api/tickets/${id}/messages`], ['POST', `/api/tickets/${id}/comments`],
        ['POST', `/api/tickets/${id}/notes`], ['POST', `/api/tickets/${id}/handback`], ['POST', `/api/tickets/${id}/takeover`], ['PUT', '/api/settings'],
        ['POST', '/api/agents'], ['PUT', '/api/agents/me/presence'], ['PATCH', `/api/tickets/${enc(f.string().slice(0, 50) || 'x')}`],
        ['GET', `/api/tickets?status=${enc(f.string().slice(0, 50))}&limit=${enc(f.string().slice(0, 20))}&cursor=${enc(f.string().slice(0, 80))}&sort=${enc(f.string().slice(0, 20))}`],
        ['PUT', '/api/categories'], ['PUT', '/api/teams'], ['PUT', '/api/templates'], ['PUT', '/api/triggers'],
      ];
      const statuses: Record<number, number> = {};
      for (let i = 0; i < API_CALLS; i++) {
        const [method, path] = f.pick(routes);
        let body: string | undefined;
        const kind = f.int(8);
        if (kind <= 3) body = JSON.stringify(f.value());
        else if (kind === 4) body = JSON.stringify({ [f.pick(['subject', 'status', 'text', 'body', 'priority', 'tags', 'assigneeId', 'sla', 'botChannels', 'presence', 'role', 'template', 'message', 'channel', 'to'])]: f.value(1) });
        else if (kind === 5) body = f.nested();
        else if (kind === 6) body = JSON.stringify(f.value()).slice(0, f.int(50));
        else body = f.chance(0.05) ? '{"subject":"' + 'y'.repeat(1024 * 1024 + 10) + '"}' : JSON.stringify({ subject: f.string(), text: f.string(), body: f.string(), status: f.string(), priority: f.string() });
        const before = await rowCounts();
        const res = await fetch(t.url + path, {
          method,
          headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': f.chance(0.9) ? 'application/json' : f.pick(['text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) },
          body: method === 'GET' ? undefined : body,
        });
        const text = await res.text();
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        const context = `#${i} (seed ${SEED}) ${method} ${path.slice(0, 200)} -> ${res.status} ${text.slice(0, 300)} body ${String(body).slice(0, 300)}`;
        expect(res.status, context).to.be.below(500);
        if (res.status >= 400) {
          expect(JSON.parse(text), context).to.have.nested.property('error.code').that.is.a('string');
          expect(await rowCounts(), `refused but wrote: ${context}`).to.deep.equal(before);
        }
      }
      expect(statuses[400] ?? 0, JSON.stringify(statuses)).to.be.above(0);
      expect((await fetch(`${t.url}/healthz`)).status).to.equal(200);
      expect(crashes, String(crashes[0])).to.deep.equal([]);
    });
  });
}
