// The agent REST API through the real HTTP server (SPEC §4): auth, errors, the status
// table, ticket fields and timeline, list filters / search / sort / cursor pagination,
// settings merge and validation, agents and tokens, presence, health and metrics.
// SQLite + in-process always; MySQL + Redis when configured.

import { expect } from 'chai';
import { backendLabel, backends, newPhone, newWamid, rand, suiteGateway, ticketsOf, waTextBody, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

for (const backend of backends()) {
  describe(`agent API (${backendLabel(backend)})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    const tag = rand(4);
    // No bot: WhatsApp tickets stay bot/active, nothing routes or answers on its own.
    suiteGateway({ backend, bot: null }, (g) => (t = g));

    async function task(subject: string, extra: Record<string, unknown> = {}) {
      const res = await t.api('POST', '/api/tickets', { subject, ...extra });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      return res.body;
    }

    async function waTicket(name: string, phone = newPhone()) {
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hello', name }));
      const [tk] = await waitFor(async () => {
        const ts = await ticketsOf(t, phone);
        return ts.length ? ts : null;
      }, 5000, 'the WhatsApp ticket');
      return { id: tk.id as string, phone };
    }

    describe('authentication and errors', () => {
      it('refuses requests without a token or with a bad token with 401', async () => {
        const none = await t.api('GET', '/api/tickets', undefined, null);
        expect(none.status).to.equal(401);
        expect(none.body.error.code).to.be.a('string');
        expect(none.body.error.message).to.be.a('string');
        const bad = await t.api('GET', '/api/tickets', undefined, 'not-a-token');
        expect(bad.status).to.equal(401);
        const patch = await t.api('PATCH', '/api/tickets/ABC', { priority: 'high' }, 'not-a-token');
        expect(patch.status).to.equal(401);
      });

      it('answers an unknown ticket with 404 {error:{code,message}}', async () => {
        for (const [method, body] of [['GET', undefined], ['PATCH', { priority: 'high' }]] as const) {
          const res = await t.api(method, '/api/tickets/NOSUCH1', body);
          expect(res.status, method).to.equal(404);
          expect(res.body.error.code).to.equal('not_found');
          expect(res.body.error.message).to.be.a('string').and.not.empty;
        }
      });

      it('refuses a forbidden status change with 409 forbidden_transition naming the allowed moves, and changes nothing', async () => {
        const tk = await task(`Forbidden ${tag}`);
        expect(tk.status).to.equal('pending');
        const res = await t.api('PATCH', `/api/tickets/${tk.id}`, { status: 'resolved', priority: 'urgent', tags: ['x'] });
        expect(res.status).to.equal(409);
        expect(res.body.error.code).to.equal('forbidden_transition');
        expect(res.body.error.message).to.contain('pending').and.to.contain('resolved').and.to.contain('active');
        expect(res.body.error.allowed).to.deep.equal(['active']);
        const after = await t.api('GET', `/api/tickets/${tk.id}`);
        expect(after.body.status).to.equal('pending');
        expect(after.body.priority).to.equal('medium');
        expect(after.body.tags).to.deep.equal([]);
        expect(after.body.timeline).to.deep.equal(tk.timeline);
      });

      it('refuses closing a pending ticket (not in the status table) and a bot ticket moved by hand', async () => {
        const tk = await task(`Forbidden close ${tag}`);
        const res = await t.api('PATCH', `/api/tickets/${tk.id}`, { status: 'closed' });
        expect(res.status).to.equal(409);
        expect(res.body.error.code).to.equal('forbidden_transition');
        const wa = await waTicket(`Bot Person ${tag}`);
        const res2 = await t.api('PATCH', `/api/tickets/${wa.id}`, { status: 'pending' });
        expect(res2.status).to.equal(409);
        expect(res2.body.error.code).to.equal('forbidden_transition');
        expect((await t.api('GET', `/api/tickets/${wa.id}`)).body).to.include({ status: 'active', type: 'bot' });
      });

      it('answers a bad field value with 400 and an unknown route with 404 in the same error shape', async () => {
        const tk = await task(`Bad value ${tag}`);
        const res = await t.api('PATCH', `/api/tickets/${tk.id}`, { priority: 'whenever' });
        expect(res.status).to.equal(400);
        expect(res.body.error.code).to.be.a('string');
        const res2 = await t.api('GET', '/api/nothing-here');
        expect(res2.status).to.equal(404);
        expect(res2.body.error.code).to.be.a('string');
      });

      it('tells broken JSON from valid JSON that is not an object or array', async () => {
        const send = (body: string) => fetch(`${t.url}/api/categories`, { method: 'PUT', headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' }, body });
        const broken = await send('["general",');
        expect(broken.status).to.equal(400);
        expect((await broken.json()).error).to.deep.equal({ code: 'malformed_json', message: 'the body is not valid JSON' });
        const bare = await send('"general"');
        expect(bare.status).to.equal(400);
        expect((await bare.json()).error).to.deep.equal({ code: 'bad_request', message: 'the body must be a JSON object or array' });
      });
    });

    describe('PATCH fields', () => {
      it('changes priority, tags and category and records them on the timeline', async () => {
        const tk = await task(`Fields ${tag}`);
        const res = await t.api('PATCH', `/api/tickets/${tk.id}`, { priority: 'high', tags: ['vip', 'refund', 'vip'], category: 'billing' });
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body.priority).to.equal('high');
        expect(res.body.tags).to.deep.equal(['vip', 'refund']);
        expect(res.body.category).to.equal('billing');
        const fields = res.body.timeline.filter((e: any) => e.type === 'fields');
        expect(fields).to.have.length(1);
        expect(fields[0].actor.kind).to.equal('agent');
        expect(fields[0].changes.priority).to.deep.equal({ from: 'medium', to: 'high' });
        expect(fields[0].changes.category).to.deep.equal({ from: null, to: 'billing' });
        expect(fields[0].changes.tags).to.deep.equal({ from: [], to: ['vip', 'refund'] });
        // Persisted: a fresh read agrees.
        const again = await t.api('GET', `/api/tickets/${tk.id}`);
        expect(again.body).to.deep.include({ priority: 'high', category: 'billing', tags: ['vip', 'refund'] });
      });
    });

    describe('GET /api/tickets', () => {
      let internal: any[] = [];
      let wa: { id: string; phone: string }[] = [];
      const waName = `Kerry Fisher${tag}`;

      before(async () => {
        internal = [];
        for (let i = 0; i < 7; i++) internal.push(await task(`List ${tag} ${String.fromCharCode(71 - i)}`, { priority: i % 2 ? 'high' : 'low' }));
        wa = [await waTicket(waName), await waTicket(`Someone Else ${tag}`)];
      });

      const all = async (query: string) => {
        const res = await t.api('GET', `/api/tickets?limit=200&${query}`);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        return res.body.items as any[];
      };

      it('filters by status, type and channel', async () => {
        const pending = await all('status=pending');
        expect(pending.every((x) => x.status === 'pending')).to.equal(true);
        expect(pending.map((x) => x.id)).to.include.members(internal.map((x) => x.id));
        expect(pending.map((x) => x.id)).not.to.include.members([wa[0]!.id]);

        const bots = await all('type=bot');
        expect(bots.every((x) => x.type === 'bot')).to.equal(true);
        expect(bots.map((x) => x.id)).to.include.members(wa.map((x) => x.id));
        expect(bots.map((x) => x.id)).not.to.include(internal[0].id);

        const whatsapp = await all('channel=whatsapp');
        expect(whatsapp.every((x) => x.channel === 'whatsapp')).to.equal(true);
        expect(whatsapp.map((x) => x.id)).to.include.members(wa.map((x) => x.id));

        const both = await all('channel=whatsapp,internal&status=active');
        expect(both.every((x) => x.status === 'active' && ['whatsapp', 'internal'].includes(x.channel))).to.equal(true);
        expect(both.map((x) => x.id)).to.include(wa[0]!.id);
      });

      it('searches with q by subject, ticket id, contact name and phone', async () => {
        expect((await all(`q=${encodeURIComponent(`list ${tag} c`)}`)).map((x) => x.id)).to.deep.equal([internal[4].id]);
        expect((await all(`q=${internal[2].id}`)).map((x) => x.id)).to.deep.equal([internal[2].id]);
        expect((await all(`q=${internal[2].id.toLowerCase()}`)).map((x) => x.id)).to.deep.equal([internal[2].id]);
        expect((await all(`q=${encodeURIComponent(waName.toLowerCase())}`)).map((x) => x.id)).to.deep.equal([wa[0]!.id]);
        expect((await all(`q=${wa[1]!.phone}`)).map((x) => x.id)).to.deep.equal([wa[1]!.id]);
        expect(await all(`q=${encodeURIComponent('%')}`)).to.satisfy((items: any[]) => items.every((x) => String(x.subject).includes('%') || x.id === '%'));
      });

      for (const sort of ['subject', '-subject', 'createdAt', '-createdAt', 'priority', '-priority']) {
        it(`pages with sort=${sort} and cursors without duplicates or gaps`, async () => {
          const q = `q=${encodeURIComponent(`List ${tag}`)}&sort=${sort}`;
          const full = await all(q);
          expect(full).to.have.length(7);
          const seen: string[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const res = await t.api('GET', `/api/tickets?${q}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
            expect(res.status).to.equal(200);
            expect(res.body.items.length).to.be.at.most(3);
            seen.push(...res.body.items.map((x: any) => x.id));
            cursor = res.body.nextCursor;
            pages++;
          } while (cursor && pages < 10);
          expect(pages).to.equal(3);
          expect(seen).to.deep.equal(full.map((x) => x.id));
          if (sort === 'subject') expect(full.map((x) => x.subject)).to.deep.equal([...full.map((x) => x.subject)].sort());
          if (sort === '-subject') expect(full.map((x) => x.subject)).to.deep.equal([...full.map((x) => x.subject)].sort().reverse());
          if (sort === 'priority') expect(full.map((x) => x.priority)).to.deep.equal([...Array(4).fill('low'), ...Array(3).fill('high')]);
        });
      }

      it('refuses a bad sort, limit or cursor with 400', async () => {
        expect((await t.api('GET', '/api/tickets?sort=colour')).status).to.equal(400);
        expect((await t.api('GET', '/api/tickets?limit=0')).status).to.equal(400);
        expect((await t.api('GET', '/api/tickets?cursor=%%%')).status).to.equal(400);
      });
    });

    describe('settings', () => {
      it('GET returns the defaults and PUT merges only the given keys', async () => {
        const before = await t.api('GET', '/api/settings');
        expect(before.status).to.equal(200);
        expect(before.body.botChannels).to.deep.equal(['whatsapp', 'instagram']);
        const put = await t.api('PUT', '/api/settings', { autoCloseAfter: '2d', fallbackLimit: 3 });
        expect(put.status, JSON.stringify(put.body)).to.equal(200);
        expect(put.body.autoCloseAfter).to.equal('2d');
        expect(put.body.fallbackLimit).to.equal(3);
        const after = await t.api('GET', '/api/settings');
        expect(after.body).to.deep.equal({ ...before.body, autoCloseAfter: '2d', fallbackLimit: 3 });
      });

      it('refuses a bad value with 400 and writes nothing (not even the good keys)', async () => {
        const before = (await t.api('GET', '/api/settings')).body;
        const res = await t.api('PUT', '/api/settings', { idleAfter: '5h', fallbackLimit: 'many' });
        expect(res.status).to.equal(400);
        expect(res.body.error.code).to.equal('invalid_setting');
        const res2 = await t.api('PUT', '/api/settings', { noSuchSetting: 1 });
        expect(res2.status).to.equal(400);
        expect((await t.api('GET', '/api/settings')).body).to.deep.equal(before);
        const rows = await t.query('SELECT name FROM settings WHERE name IN (?, ?)', ['idleAfter', 'noSuchSetting']);
        expect(rows).to.have.length(0);
      });

      it('accepts autoCloseAfter from 1h to 28d and refuses anything outside', async () => {
        for (const bad of ['59m', '30m', '29d', '5w', 'soon', 3600]) {
          const res = await t.api('PUT', '/api/settings', { autoCloseAfter: bad });
          expect(res.status, String(bad)).to.equal(400);
        }
        expect((await t.api('GET', '/api/settings')).body.autoCloseAfter).to.equal('2d');
        for (const good of ['1h', '28d']) {
          const res = await t.api('PUT', '/api/settings', { autoCloseAfter: good });
          expect(res.status, good).to.equal(200);
          expect(res.body.autoCloseAfter).to.equal(good);
        }
      });
    });

    describe('agents and presence', () => {
      it('POST /api/agents returns the token once, stores only its hash, and the token works', async () => {
        const email = `agent.${tag}@example.com`;
        const res = await t.api('POST', '/api/agents', { name: 'Grace', email, role: 'agent', capacity: 0 });
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        const token = res.body.token as string;
        expect(token).to.be.a('string').with.length.greaterThan(20);
        const [row] = await t.query('SELECT * FROM users WHERE id = ?', [res.body.id]);
        expect(row.tokenHash).to.be.a('string').and.not.equal(token);
        expect(row.tokenHash).not.to.contain(token);
        expect(JSON.stringify(row)).not.to.contain(token);
        // Never shown again.
        const list = await t.api('GET', '/api/agents');
        expect(list.status).to.equal(200);
        expect(JSON.stringify(list.body)).not.to.contain(token);
        expect(list.body.find((a: any) => a.id === res.body.id)).to.not.have.property('token');
        // The new agent's token authenticates; an agent is not an admin.
        const mine = await t.api('GET', '/api/tickets?limit=1', undefined, token);
        expect(mine.status).to.equal(200);
        const denied = await t.api('PUT', '/api/settings', { fallbackLimit: 4 }, token);
        expect(denied.status).to.equal(403);
        expect((await t.api('GET', '/api/settings')).body.fallbackLimit).to.equal(3);
        // A second agent with the same email is a conflict, not a 500.
        const dup = await t.api('POST', '/api/agents', { name: 'Grace again', email });
        expect(dup.status).to.equal(409);
      });

      it('PUT /api/agents/me/presence sets the caller\'s presence and refuses bad values', async () => {
        const created = await t.api('POST', '/api/agents', { name: 'Presence', email: `presence.${tag}@example.com`, capacity: 0 });
        const token = created.body.token;
        const res = await t.api('PUT', '/api/agents/me/presence', { presence: 'online' }, token);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body.presence).to.equal('online');
        expect((await t.query('SELECT presence FROM users WHERE id = ?', [created.body.id]))[0].presence).to.equal('online');
        const agents = (await t.api('GET', '/api/agents')).body;
        expect(agents.find((a: any) => a.id === created.body.id).presence).to.equal('online');
        const bad = await t.api('PUT', '/api/agents/me/presence', { presence: 'asleep' }, token);
        expect(bad.status).to.equal(400);
        const away = await t.api('PUT', '/api/agents/me/presence', { presence: 'away' }, token);
        expect(away.status).to.equal(200);
        expect((await t.query('SELECT presence FROM users WHERE id = ?', [created.body.id]))[0].presence).to.equal('away');
      });
    });

    describe('health and metrics', () => {
      it('GET /healthz answers 200 {status: ok}', async () => {
        const res = await fetch(`${t.url}/healthz`);
        expect(res.status).to.equal(200);
        expect(await res.json()).to.deep.equal({ status: 'ok' });
      });

      it('GET /metrics exposes gateway_inbound_messages_total counting accepted messages', async () => {
        const read = async () => {
          const text = await (await fetch(`${t.url}/metrics`)).text();
          const m = /^gateway_inbound_messages_total\{channel="whatsapp"\} (\d+)$/m.exec(text);
          return { text, n: m ? Number(m[1]) : 0 };
        };
        const before = await read();
        expect(before.text).to.contain('# TYPE gateway_inbound_messages_total counter');
        const body = waTextBody({ from: newPhone(), id: newWamid(), text: 'count me' });
        await t.webhook(body);
        await t.webhook(body); // a duplicate is not counted
        const after = await read();
        expect(after.n).to.equal(before.n + 1);
        expect(after.text).to.contain('gateway_pipeline_seconds');
      });
    });
  });
}
