// Admin-managed resources through the real HTTP server (SPEC §4): templates (validated,
// only approved ones sent, params filled), teams, routing rules (category / channel ->
// team, auto-assignment among the team's online members, least-loaded with a
// round-robin tiebreak), the category taxonomy, and PATCH /api/agents/:id.
// SQLite always; MySQL + Redis when configured.

import { expect } from 'chai';
import { backends, newPhone, newWamid, rand, startGateway, ticketsOf, waTextBody, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

const TEMPLATE = { name: 'appointment_reminder', language: 'en_US', category: 'UTILITY', status: 'approved', body: 'Hello {{1}}, see you on {{2}}.' };

for (const backend of backends()) {
  describe(`admin resources (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    let adminId: string;
    const tag = rand(3);

    before(async () => {
      t = await startGateway({ backend, bot: null });
      adminId = (await t.query("SELECT id FROM users WHERE role = 'admin'"))[0].id;
    });
    after(async () => {
      await t?.stop();
    });

    async function agent(name: string, extra: Record<string, unknown> = {}) {
      const res = await t.api('POST', '/api/agents', { name, email: `${name.toLowerCase()}.${tag}@example.com`, capacity: 5, ...extra });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      return res.body as { id: string; token: string };
    }
    const presence = (token: string, p: string) => t.api('PUT', '/api/agents/me/presence', { presence: p }, token);

    const sim = (body: Record<string, unknown>) =>
      fetch(`${t.url}/simulator/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    /** A customer email through the simulator (email has no bot: routed and assigned at once). */
    async function emailTicket(): Promise<any> {
      const persona = `c${rand(4)}@example.com`;
      expect((await sim({ channel: 'email', persona, text: 'Where is my parcel?', subject: 'Parcel' })).status).to.equal(202);
      const row = await waitFor(async () => (await t.query("SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = 'email' AND i.value = ?", [persona]))[0], 5000, 'the email ticket');
      return (await t.api('GET', `/api/tickets/${row.id}`)).body;
    }

    describe('templates', () => {
      let agentToken: string;
      before(async () => {
        agentToken = (await agent('Tina')).token;
      });

      it('starts empty, stores a valid list, and lets every agent read it', async () => {
        expect((await t.api('GET', '/api/templates')).body).to.deep.equal([]);
        const list = [TEMPLATE, { name: 'promo_spring', language: 'en_US', category: 'MARKETING', status: 'rejected', body: 'Spring sale!' }];
        const put = await t.api('PUT', '/api/templates', list);
        expect(put.status, JSON.stringify(put.body)).to.equal(200);
        expect(put.body).to.deep.equal(list);
        expect((await t.api('GET', '/api/templates', undefined, agentToken)).body).to.deep.equal(list);
      });

      it('refuses invalid lists with 400 invalid_template and keeps the stored one', async () => {
        const bad: unknown[] = [
          { not: 'a list' },
          [{ ...TEMPLATE, status: 'maybe' }],
          [{ ...TEMPLATE, name: 'Has Spaces' }],
          [{ name: 'x', language: 'en', category: 'UTILITY', body: 'no status' }],
          [{ ...TEMPLATE, body: 'Hi {{1}} and {{3}}' }],
          [{ ...TEMPLATE, body: 'Hi {{ 1 }}' }],
          [TEMPLATE, { ...TEMPLATE }],
          [{ ...TEMPLATE, extra: true }],
        ];
        for (const b of bad) {
          const res = await t.api('PUT', '/api/templates', b);
          expect(res.status, JSON.stringify(b)).to.equal(400);
          expect(res.body.error.code, JSON.stringify(b)).to.equal('invalid_template');
        }
        expect((await t.api('GET', '/api/templates')).body).to.have.length(2);
      });

      it('lets only admins write templates (403)', async () => {
        const res = await t.api('PUT', '/api/templates', [], agentToken);
        expect(res.status).to.equal(403);
        expect((await t.api('GET', '/api/templates')).body).to.have.length(2);
      });

      it('sends only approved templates with fitting params; the stored text is the filled body', async () => {
        const phone = newPhone();
        await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hi', name: 'Pat' }));
        const [tk] = await waitFor(async () => ((await ticketsOf(t, phone)).length ? ticketsOf(t, phone) : null), 5000, 'the WhatsApp ticket');
        expect((await t.api('POST', `/api/tickets/${tk.id}/takeover`)).status).to.equal(200);
        const rejected = await t.api('POST', `/api/tickets/${tk.id}/messages`, { template: { name: 'promo_spring', language: 'en_US', params: [] } });
        expect(rejected.status).to.equal(422);
        expect(rejected.body.error.code).to.equal('template_not_approved');
        const unknown = await t.api('POST', `/api/tickets/${tk.id}/messages`, { template: { name: 'no_such', language: 'en_US', params: [] } });
        expect(unknown.status).to.equal(422);
        expect(unknown.body.error.code).to.equal('template_not_approved');
        const few = await t.api('POST', `/api/tickets/${tk.id}/messages`, { template: { name: TEMPLATE.name, language: 'en_US', params: ['Pat'] } });
        expect(few.status).to.equal(400);
        const ok = await t.api('POST', `/api/tickets/${tk.id}/messages`, { template: { name: TEMPLATE.name, language: 'en_US', params: ['Pat', 'Monday'] } });
        expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
        expect(ok.body).to.include({ kind: 'template', text: 'Hello Pat, see you on Monday.' });
        expect(ok.body.template).to.deep.include({ name: TEMPLATE.name, language: 'en_US', params: ['Pat', 'Monday'] });
        const out = await t.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out'", [tk.id]);
        expect(out).to.have.length(1);
      });
    });

    describe('categories', () => {
      it('ships a default taxonomy and refuses unknown categories on PATCH and POST', async () => {
        const list = (await t.api('GET', '/api/categories')).body;
        expect(list).to.include.members(['general', 'billing', 'shipping', 'returns', 'technical']);
        const task = (await t.api('POST', '/api/tickets', { subject: `Cat ${tag}`, category: 'billing', assigneeId: adminId })).body;
        expect(task.category).to.equal('billing');
        const bad = await t.api('PATCH', `/api/tickets/${task.id}`, { category: 'astrology', priority: 'high' });
        expect(bad.status).to.equal(400);
        expect(bad.body.error.code).to.equal('unknown_category');
        const after = (await t.api('GET', `/api/tickets/${task.id}`)).body;
        expect(after).to.include({ category: 'billing', priority: 'medium' });
        expect((await t.api('PATCH', `/api/tickets/${task.id}`, { category: null })).body.category).to.equal(null);
        expect((await t.api('POST', '/api/tickets', { subject: 'x', category: 'astrology' })).body.error.code).to.equal('unknown_category');
      });

      it('PUT replaces the taxonomy (admins only) and the new list governs tickets', async () => {
        const { token } = await agent('Cato');
        expect((await t.api('PUT', '/api/categories', ['vip'], token)).status).to.equal(403);
        expect((await t.api('PUT', '/api/categories', ['vip', 'vip'])).status).to.equal(400);
        expect((await t.api('PUT', '/api/categories', [''])).status).to.equal(400);
        expect((await t.api('PUT', '/api/categories', 'vip')).status).to.equal(400);
        const put = await t.api('PUT', '/api/categories', ['general', 'billing', 'shipping', 'vip']);
        expect(put.status).to.equal(200);
        expect(put.body).to.deep.equal(['general', 'billing', 'shipping', 'vip']);
        const task = (await t.api('POST', '/api/tickets', { subject: `VIP ${tag}`, category: 'vip', assigneeId: adminId })).body;
        expect(task.category).to.equal('vip');
        expect((await t.api('PATCH', `/api/tickets/${task.id}`, { category: 'technical' })).status).to.equal(400);
        // Not part of /api/settings.
        expect((await t.api('GET', '/api/settings')).body).not.to.have.property('collection:categories');
      });
    });

    describe('teams, routing rules and auto-assignment', () => {
      let ana: { id: string; token: string };
      let ben: { id: string; token: string };
      let cy: { id: string; token: string };
      let dee: { id: string; token: string };
      let billing: string;
      let shipping: string;

      before(async () => {
        ana = await agent('Ana');
        ben = await agent('Ben');
        cy = await agent('Cy');
        dee = await agent('Dee');
      });

      it('PUT /api/teams creates, renames and re-staffs teams; GET /api/agents shows teamIds', async () => {
        const put = await t.api('PUT', '/api/teams', [
          { name: 'Billing', memberIds: [ana.id] },
          { name: 'Shipping', memberIds: [ben.id, cy.id, dee.id] },
          { name: 'Temp', memberIds: [] },
        ]);
        expect(put.status, JSON.stringify(put.body)).to.equal(200);
        billing = put.body.find((x: any) => x.name === 'Billing').id;
        shipping = put.body.find((x: any) => x.name === 'Shipping').id;
        expect(put.body.find((x: any) => x.name === 'Shipping').memberIds).to.have.members([ben.id, cy.id, dee.id]);
        // Rename, drop Temp, keep ids.
        const again = await t.api('PUT', '/api/teams', [
          { id: billing, name: 'Billing & Refunds', memberIds: [ana.id] },
          { id: shipping, name: 'Shipping', memberIds: [ben.id, cy.id, dee.id] },
        ]);
        expect(again.status, JSON.stringify(again.body)).to.equal(200);
        const teams = (await t.api('GET', '/api/teams')).body;
        expect(teams.map((x: any) => x.name)).to.deep.equal(['Billing & Refunds', 'Shipping']);
        expect(teams.find((x: any) => x.id === billing).memberIds).to.deep.equal([ana.id]);
        const agents = (await t.api('GET', '/api/agents')).body;
        expect(agents.find((a: any) => a.id === ana.id).teamIds).to.deep.equal([billing]);
        expect(agents.find((a: any) => a.id === ben.id).teamIds).to.deep.equal([shipping]);
      });

      it('refuses bad team lists (400) and non-admins (403), changing nothing', async () => {
        const before = (await t.api('GET', '/api/teams')).body;
        const bad: [unknown, number][] = [
          [[{ name: 'X', memberIds: ['nobody'] }], 400],
          [[{ name: 'Same', memberIds: [] }, { name: 'Same', memberIds: [] }], 400],
          [[{ id: 'not-a-team', name: 'Ghost', memberIds: [] }], 400],
          [[{ memberIds: [] }], 400],
          [{ name: 'not a list' }, 400],
        ];
        for (const [b, status] of bad) expect((await t.api('PUT', '/api/teams', b)).status, JSON.stringify(b)).to.equal(status);
        expect((await t.api('PUT', '/api/teams', [], ana.token)).status).to.equal(403);
        expect((await t.api('GET', '/api/teams')).body).to.deep.equal(before);
      });

      it('PUT /api/routing-rules validates teams, categories and channels', async () => {
        expect((await t.api('PUT', '/api/routing-rules', [{ if: { category: 'billing' }, team: 'no-such-team' }])).body.error.code).to.equal('unknown_team');
        expect((await t.api('PUT', '/api/routing-rules', [{ if: { category: 'astrology' }, team: billing }])).body.error.code).to.equal('unknown_category');
        expect((await t.api('PUT', '/api/routing-rules', [{ if: { channel: 'fax' }, team: billing }])).status).to.equal(400);
        expect((await t.api('PUT', '/api/routing-rules', [{ if: { colour: 'red' }, team: billing }])).status).to.equal(400);
        expect((await t.api('PUT', '/api/routing-rules', [{ if: {}, team: billing }], ana.token)).status).to.equal(403);
        const put = await t.api('PUT', '/api/routing-rules', [
          { if: { category: 'billing' }, team: billing },
          // A team may be named instead of given by id; it is stored as the id.
          { if: { channel: ['email', 'whatsapp'] }, team: 'Shipping' },
        ]);
        expect(put.status, JSON.stringify(put.body)).to.equal(200);
        expect(put.body).to.deep.equal([
          { if: { category: 'billing' }, team: billing },
          { if: { channel: ['email', 'whatsapp'] }, team: shipping },
        ]);
        expect((await t.api('GET', '/api/routing-rules', undefined, ana.token)).body).to.deep.equal(put.body);
        // A team used by a rule cannot be deleted; a category used by a rule cannot be dropped.
        const del = await t.api('PUT', '/api/teams', [{ id: shipping, name: 'Shipping', memberIds: [ben.id, cy.id, dee.id] }]);
        expect(del.status).to.equal(409);
        expect(del.body.error.code).to.equal('team_in_use');
        expect((await t.api('PUT', '/api/categories', ['general'])).status).to.equal(409);
      });

      it("routes a ticket by category to its team and assigns that team's online member (logged on the timeline)", async () => {
        const task = (await t.api('POST', '/api/tickets', { subject: `Refund ${tag}`, category: 'billing' })).body;
        expect(task.team).to.deep.equal({ id: billing, name: 'Billing & Refunds' });
        expect(task.status).to.equal('pending');
        // An online agent of another team comes first (and is offered the queue) but must not get it;
        // the team's member coming online does.
        await presence(ben.token, 'online');
        await presence(ana.token, 'online');
        const tk = await waitFor(async () => {
          const d = (await t.api('GET', `/api/tickets/${task.id}`)).body;
          return d.status === 'active' ? d : null;
        }, 5000, 'the billing ticket to be assigned');
        expect(tk.assignee.id).to.equal(ana.id);
        expect(tk.timeline.find((e: any) => e.type === 'assignment')).to.include({ from: null, to: ana.id });
        expect((await t.api('PATCH', `/api/tickets/${task.id}`, { status: 'closed' })).status).to.equal(200);
        await presence(ana.token, 'offline');
      });

      it('assigns the least-loaded online member, breaking ties round-robin', async () => {
        // Ben and Cy online (Dee offline, Ana in another team): email tickets go to Shipping by rule.
        // Nobody holds a ticket yet, so loads start equal.
        expect(await t.query("SELECT id FROM tickets WHERE assigneeId IN (?, ?) AND status <> 'closed'", [ben.id, cy.id])).to.deep.equal([]);
        await presence(ben.token, 'online');
        await presence(cy.token, 'online');
        const assignees: string[] = [];
        const close = (id: string) => t.api('PATCH', `/api/tickets/${id}`, { status: 'closed' });
        // Each ticket is closed before the next, so both agents are always equally loaded (0):
        // only the round-robin tiebreak decides, and it must alternate.
        for (let i = 0; i < 4; i++) {
          const tk = await emailTicket();
          expect(tk.team?.id, JSON.stringify(tk)).to.equal(shipping);
          expect(tk.status).to.equal('active');
          assignees.push(tk.assignee.id);
          expect(tk.timeline.find((e: any) => e.type === 'assignment')).to.include({ to: tk.assignee.id });
          expect((await close(tk.id)).status).to.equal(200);
        }
        expect(assignees.every((a) => a === ben.id || a === cy.id)).to.equal(true);
        expect(assignees[0]).not.to.equal(assignees[1]);
        expect(assignees[2]).to.equal(assignees[0]);
        expect(assignees[3]).to.equal(assignees[1]);
        // Least-loaded beats the rotation: X holds a ticket, Y was assigned last but holds none -> Y.
        const a = await emailTicket();
        const b = await emailTicket();
        expect(b.assignee.id).not.to.equal(a.assignee.id);
        expect((await close(b.id)).status).to.equal(200);
        const c = await emailTicket();
        expect(c.assignee.id).to.equal(b.assignee.id);
        // Offline members never get tickets.
        const all = await t.query("SELECT DISTINCT assigneeId FROM tickets WHERE teamId = ? AND assigneeId IS NOT NULL", [shipping]);
        expect(all.map((r: any) => r.assigneeId)).not.to.include(dee.id);
      });
      it('offers the queue again when an online agent joins the waiting ticket\'s team', async () => {
        await presence(ben.token, 'offline');
        await presence(cy.token, 'offline');
        const task = (await t.api('POST', '/api/tickets', { subject: `Invoice ${tag}`, category: 'billing' })).body;
        expect(task).to.include({ status: 'pending' });
        expect(task.team.id).to.equal(billing);
        // Dee (Shipping) is online but not in Billing: the ticket keeps waiting for Billing.
        await presence(dee.token, 'online');
        expect((await t.api('PATCH', `/api/agents/${dee.id}`, { teamIds: [shipping, billing] })).status).to.equal(200);
        const tk = await waitFor(async () => {
          const d = (await t.api('GET', `/api/tickets/${task.id}`)).body;
          return d.status === 'active' ? d : null;
        }, 5000, 'the invoice ticket to be assigned');
        expect(tk.assignee.id).to.equal(dee.id);
      });
    });

    describe('PATCH /api/agents/:id', () => {
      it('changes name, email, role, permissions, capacity and teams; non-admins get 403', async () => {
        const a = await agent('Eve');
        const teams = (await t.api('GET', '/api/teams')).body;
        const res = await t.api('PATCH', `/api/agents/${a.id}`, {
          name: 'Eve Adams', email: `Eve.Adams.${tag}@Example.com`, permissions: ['notes'], capacity: 9, teamIds: [teams[0].id],
        });
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body).to.deep.include({ id: a.id, name: 'Eve Adams', email: `eve.adams.${tag}@example.com`, permissions: ['notes'], capacity: 9, teamIds: [teams[0].id], role: 'agent' });
        expect(res.body).not.to.have.property('token');
        const listed = (await t.api('GET', '/api/agents')).body.find((x: any) => x.id === a.id);
        expect(listed).to.deep.include({ name: 'Eve Adams', capacity: 9, teamIds: [teams[0].id] });
        // Not an admin yet.
        expect((await t.api('PATCH', `/api/agents/${a.id}`, { capacity: 1 }, a.token)).status).to.equal(403);
        expect((await t.api('PUT', '/api/categories', ['general', 'billing', 'shipping', 'vip'], a.token)).status).to.equal(403);
        // Promoted: the same token now has admin rights at once.
        expect((await t.api('PATCH', `/api/agents/${a.id}`, { role: 'admin' })).body.role).to.equal('admin');
        expect((await t.api('PUT', '/api/categories', ['general', 'billing', 'shipping', 'vip'], a.token)).status).to.equal(200);
        await t.api('PATCH', `/api/agents/${a.id}`, { role: 'agent' });
      });

      it('refuses bad input, unknown agents and teams, and demoting the last admin', async () => {
        const a = await agent('Fay');
        const cases: [string, unknown, number][] = [
          [a.id, { role: 'boss' }, 400],
          [a.id, { permissions: ['everything'] }, 400],
          [a.id, { capacity: -1 }, 400],
          [a.id, { colour: 'red' }, 400],
          [a.id, { teamIds: ['no-such-team'] }, 400],
          ['NOSUCH', { name: 'x' }, 404],
        ];
        for (const [id, b, status] of cases) expect((await t.api('PATCH', `/api/agents/${id}`, b)).status, JSON.stringify(b)).to.equal(status);
        const [admin] = await t.query("SELECT id FROM users WHERE role = 'admin'");
        const demote = await t.api('PATCH', `/api/agents/${admin.id}`, { role: 'agent' });
        expect(demote.status).to.equal(409);
        expect(demote.body.error.code).to.equal('last_admin');
        const dupEmail = await t.api('PATCH', `/api/agents/${a.id}`, { email: `ana.${tag}@example.com` });
        expect(dupEmail.status).to.equal(409);
      });

      it('rotates a token: the new one works once shown, the old one stops working', async () => {
        const a = await agent('Gus');
        const res = await t.api('PATCH', `/api/agents/${a.id}`, { rotateToken: true });
        expect(res.status).to.equal(200);
        expect(res.body.token).to.be.a('string').and.not.equal(a.token);
        expect((await t.api('GET', '/api/tickets?limit=1', undefined, a.token)).status).to.equal(401);
        expect((await t.api('GET', '/api/tickets?limit=1', undefined, res.body.token)).status).to.equal(200);
        const [row] = await t.query('SELECT tokenHash FROM users WHERE id = ?', [a.id]);
        expect(row.tokenHash).not.to.contain(res.body.token);
        expect(JSON.stringify((await t.api('GET', '/api/agents')).body)).not.to.contain(res.body.token);
      });
    });
  });
}
