// Comments and internal notes (SPEC §3.9): who may write, read, edit and delete them,
// and that a note never reaches a user without the notes permission through any path:
// ticket detail, list, event stream, export. SQLite always; MySQL + Redis when configured.

import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { backends, rand, startGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { openStream, type SseStream } from '../helpers/sse-client.js';

for (const backend of backends()) {
  describe(`comments and internal notes (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    // plain: no notes permission; plain2: another one; noter / noter2: with it.
    const tok: Record<'plain' | 'plain2' | 'noter' | 'noter2', string> = {} as any;
    const ids: Record<string, string> = {};
    const streams: SseStream[] = [];

    before(async () => {
      t = await startGateway({ backend, bot: null });
      for (const [name, permissions] of [['plain', []], ['plain2', []], ['noter', ['notes']], ['noter2', ['notes']]] as const) {
        const res = await t.api('POST', '/api/agents', { name: `${name} ${rand(3)}`, email: `${name}-${rand(4)}@example.com`, role: 'agent', permissions });
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        tok[name] = res.body.token;
        ids[name] = res.body.id;
      }
    });
    after(async () => {
      for (const s of streams) s.close();
      await t?.stop();
    });

    async function task(subject = `Task ${rand(3)}`): Promise<any> {
      const res = await t.api('POST', '/api/tickets', { subject });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      return res.body;
    }
    const detail = async (id: string, token: string) => {
      const res = await t.api('GET', `/api/tickets/${id}`, undefined, token);
      expect(res.status).to.equal(200);
      return res.body;
    };
    async function exportText(token: string, query: string): Promise<string> {
      const res = await fetch(`${t.url}/api/tickets/export?${query}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).to.equal(200);
      return res.text();
    }

    describe('writing', () => {
      it('a comment by any agent: 201 with the timeline entry, seen by every team member', async () => {
        const tk = await task();
        const res = await t.api('POST', `/api/tickets/${tk.id}/comments`, { body: 'Customer called, waiting on the warehouse' }, tok.plain);
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        expect(res.body).to.include({ type: 'comment', body: 'Customer called, waiting on the warehouse' });
        expect(res.body.id).to.be.a('string');
        expect(res.body.actor).to.include({ kind: 'agent', id: ids.plain });
        for (const who of [tok.plain2, tok.noter, t.adminToken]) {
          const d = await detail(tk.id, who);
          const c = d.timeline.filter((e: any) => e.type === 'comment');
          expect(c.map((e: any) => e.body)).to.deep.equal(['Customer called, waiting on the warehouse']);
          expect(c[0].id).to.equal(res.body.id);
        }
      });

      it('a note needs the notes permission (403 otherwise, nothing written); admins and permitted agents may', async () => {
        const tk = await task();
        const refused = await t.api('POST', `/api/tickets/${tk.id}/notes`, { body: 'should not exist' }, tok.plain);
        expect(refused.status).to.equal(403);
        expect(refused.body.error.code).to.equal('forbidden');
        expect(JSON.stringify(await detail(tk.id, t.adminToken))).not.to.contain('should not exist');
        const byNoter = await t.api('POST', `/api/tickets/${tk.id}/notes`, { body: 'VIP, refund approved by finance' }, tok.noter);
        expect(byNoter.status).to.equal(201);
        expect(byNoter.body).to.include({ type: 'note', body: 'VIP, refund approved by finance' });
        const byAdmin = await t.api('POST', `/api/tickets/${tk.id}/notes`, { body: 'admin note' });
        expect(byAdmin.status).to.equal(201);
        const seen = (await detail(tk.id, tok.noter2)).timeline.filter((e: any) => e.type === 'note').map((e: any) => e.body);
        expect(seen).to.deep.equal(['VIP, refund approved by finance', 'admin note']);
      });

      it('refuses bad bodies with 400 and unknown tickets with 404', async () => {
        const tk = await task();
        for (const body of [{}, { body: '' }, { body: '   ' }, { body: 12 }, { body: 'x'.repeat(20_001) }, { body: 'ok', extra: 1 }]) {
          const res = await t.api('POST', `/api/tickets/${tk.id}/comments`, body, tok.plain);
          expect(res.status, JSON.stringify(body).slice(0, 40)).to.equal(400);
          expect(res.body.error.code).to.equal('bad_request');
        }
        expect((await t.api('POST', '/api/tickets/NOSUCH1/comments', { body: 'x' }, tok.plain)).status).to.equal(404);
        expect((await t.api('POST', '/api/tickets/NOSUCH1/notes', { body: 'x' }, tok.noter)).status).to.equal(404);
        expect((await detail(tk.id, t.adminToken)).timeline.filter((e: any) => e.type === 'comment')).to.deep.equal([]);
      });
    });

    describe('a note never reaches a user without the permission', () => {
      const secret = `secret-${rand(6)}`;
      let tk: any;
      let plainStream: SseStream;
      let noterStream: SseStream;
      let listBefore: any;
      const resumeIds: Record<string, string> = {};

      before(async () => {
        tk = await task(`Leak check ${rand(3)}`);
        plainStream = await openStream(t.url, { token: tok.plain });
        noterStream = await openStream(t.url, { token: tok.noter });
        streams.push(plainStream, noterStream);
        resumeIds.plain = await plainStream.ready();
        resumeIds.noter = await noterStream.ready();
        listBefore = (await t.api('GET', `/api/tickets?q=${tk.id}`, undefined, tok.plain)).body.items[0];
        const res = await t.api('POST', `/api/tickets/${tk.id}/notes`, { body: secret }, tok.noter);
        expect(res.status).to.equal(201);
        // A comment after the note: once the plain agent has it, the note would have come before.
        expect((await t.api('POST', `/api/tickets/${tk.id}/comments`, { body: `after ${secret.slice(0, 3)}` }, tok.noter)).status).to.equal(201);
      });

      it('not in the ticket detail (the permitted agent sees it)', async () => {
        const plain = await detail(tk.id, tok.plain);
        expect(JSON.stringify(plain)).not.to.contain(secret);
        expect(plain.timeline.some((e: any) => e.type === 'note')).to.equal(false);
        const noter = await detail(tk.id, tok.noter);
        expect(noter.timeline.filter((e: any) => e.type === 'note').map((e: any) => e.body)).to.deep.equal([secret]);
      });

      it('not in the list, and the ticket row did not change for a note', async () => {
        const res = await t.api('GET', `/api/tickets?q=${tk.id}`, undefined, tok.plain);
        expect(res.status).to.equal(200);
        expect(JSON.stringify(res.body)).not.to.contain(secret);
        // The comment after the note bumped updatedAt; a note alone must not (it would
        // tell others "something happened"): check on a fresh ticket.
        const other = await task();
        const before = (await t.api('GET', `/api/tickets?q=${other.id}`, undefined, tok.plain)).body.items[0];
        expect((await t.api('POST', `/api/tickets/${other.id}/notes`, { body: 'quiet' }, tok.noter)).status).to.equal(201);
        const afterNote = (await t.api('GET', `/api/tickets?q=${other.id}`, undefined, tok.plain)).body.items[0];
        expect(afterNote).to.deep.equal(before);
        expect(listBefore.id).to.equal(tk.id);
      });

      it('not on the event stream (the permitted agent gets note.created with the body)', async () => {
        await plainStream.waitFor((e) => e.event === 'comment.created' && e.json?.ticketId === tk.id, 'the comment event (plain)');
        await noterStream.waitFor((e) => e.event === 'note.created' && e.json?.ticketId === tk.id, 'the note event (noter)');
        expect(noterStream.of('note.created').find((e) => e.json.ticketId === tk.id)!.json.data.body).to.equal(secret);
        expect(plainStream.events.some((e) => e.data.includes(secret))).to.equal(false);
        expect(plainStream.of('note.created')).to.deep.equal([]);
      });

      it('not on a replayed event stream either (Last-Event-ID)', async () => {
        const plainReplay = await openStream(t.url, { token: tok.plain, lastEventId: resumeIds.plain });
        const noterReplay = await openStream(t.url, { token: tok.noter, lastEventId: resumeIds.noter });
        streams.push(plainReplay, noterReplay);
        await plainReplay.waitFor((e) => e.event === 'comment.created' && e.json?.ticketId === tk.id, 'the replayed comment');
        await noterReplay.waitFor((e) => e.event === 'note.created' && e.json?.ticketId === tk.id, 'the replayed note');
        expect(plainReplay.events.some((e) => e.data.includes(secret))).to.equal(false);
      });

      it('not in exports (CSV has no notes column, JSON no notes); the permitted agent gets them', async () => {
        const q = `q=${tk.id}`;
        const plainCsv = await exportText(tok.plain, `format=csv&${q}`);
        expect(plainCsv).not.to.contain(secret);
        const [plainRow] = parse(plainCsv, { columns: true, bom: true }) as Record<string, string>[];
        expect(plainRow).not.to.have.property('notes');
        expect(plainRow.comments).to.contain('after');
        const plainJson = JSON.parse(await exportText(tok.plain, `format=json&${q}`));
        expect(plainJson).to.have.length(1);
        expect(plainJson[0]).not.to.have.property('notes');
        expect(JSON.stringify(plainJson)).not.to.contain(secret);

        const [noterRow] = parse(await exportText(tok.noter, `format=csv&${q}`), { columns: true, bom: true }) as Record<string, string>[];
        expect(noterRow.notes).to.contain(secret);
        const noterJson = JSON.parse(await exportText(tok.noter, `format=json&${q}`));
        expect(noterJson[0].notes.map((n: any) => n.body)).to.deep.equal([secret]);
      });
    });

    describe('edit and delete', () => {
      it('the author edits a comment (edited mark + logged), another agent may not, an admin deletes it', async () => {
        const tk = await task();
        const c = (await t.api('POST', `/api/tickets/${tk.id}/comments`, { body: 'first version' }, tok.plain)).body;
        const other = await t.api('PATCH', `/api/tickets/${tk.id}/comments/${c.id}`, { body: 'hijacked' }, tok.plain2);
        expect(other.status).to.equal(403);
        expect(other.body.error.code).to.equal('forbidden');
        expect((await t.api('DELETE', `/api/tickets/${tk.id}/comments/${c.id}`, undefined, tok.plain2)).status).to.equal(403);

        const edited = await t.api('PATCH', `/api/tickets/${tk.id}/comments/${c.id}`, { body: 'second version' }, tok.plain);
        expect(edited.status).to.equal(200);
        expect(edited.body).to.include({ id: c.id, type: 'comment', body: 'second version', editedBy: ids.plain });
        expect(edited.body.editedAt).to.be.a('string');

        let d = await detail(tk.id, tok.plain2);
        expect(d.timeline.find((e: any) => e.id === c.id).body).to.equal('second version');
        const log = d.timeline.find((e: any) => e.type === 'comment_edited');
        expect(log).to.include({ entryId: c.id });
        expect(log.actor.id).to.equal(ids.plain);
        expect(JSON.stringify(log)).not.to.contain('version');

        expect((await t.api('DELETE', `/api/tickets/${tk.id}/comments/${c.id}`)).status).to.equal(204);
        d = await detail(tk.id, tok.plain2);
        const gone = d.timeline.find((e: any) => e.id === c.id);
        expect(gone).to.include({ deleted: true, body: null });
        expect(JSON.stringify(d)).not.to.contain('second version');
        expect(d.timeline.filter((e: any) => e.type === 'comment_deleted')).to.have.length(1);
        // Deleted is gone for good: no edit, no second delete.
        expect((await t.api('PATCH', `/api/tickets/${tk.id}/comments/${c.id}`, { body: 'again' }, tok.plain)).status).to.equal(404);
        expect((await t.api('DELETE', `/api/tickets/${tk.id}/comments/${c.id}`)).status).to.equal(404);
      });

      it('notes: only their author (with the permission) or an admin changes them; the log stays private', async () => {
        const tk = await task();
        const n = (await t.api('POST', `/api/tickets/${tk.id}/notes`, { body: 'note v1' }, tok.noter)).body;
        // Without the permission: 403 whether or not the id exists (existence is not revealed).
        for (const id of [n.id, 'NOSUCHENTRY']) {
          expect((await t.api('PATCH', `/api/tickets/${tk.id}/notes/${id}`, { body: 'x' }, tok.plain)).status).to.equal(403);
          expect((await t.api('DELETE', `/api/tickets/${tk.id}/notes/${id}`, undefined, tok.plain)).status).to.equal(403);
        }
        // Permitted, but not the author.
        expect((await t.api('PATCH', `/api/tickets/${tk.id}/notes/${n.id}`, { body: 'x' }, tok.noter2)).status).to.equal(403);
        // The note is not reachable through the comments routes.
        expect((await t.api('PATCH', `/api/tickets/${tk.id}/comments/${n.id}`, { body: 'x' }, tok.noter)).status).to.equal(404);
        // Nor from another ticket.
        const elsewhere = await task();
        expect((await t.api('PATCH', `/api/tickets/${elsewhere.id}/notes/${n.id}`, { body: 'x' }, tok.noter)).status).to.equal(404);

        const edited = await t.api('PATCH', `/api/tickets/${tk.id}/notes/${n.id}`, { body: 'note v2' }, tok.noter);
        expect(edited.status).to.equal(200);
        expect(edited.body.body).to.equal('note v2');
        expect((await t.api('DELETE', `/api/tickets/${tk.id}/notes/${n.id}`)).status).to.equal(204);

        const plain = await detail(tk.id, tok.plain);
        expect(plain.timeline.filter((e: any) => e.type.startsWith('note'))).to.deep.equal([]);
        const noter = await detail(tk.id, tok.noter2);
        expect(noter.timeline.map((e: any) => e.type).filter((x: string) => x.startsWith('note'))).to.deep.equal(['note', 'note_edited', 'note_deleted']);
        expect(JSON.stringify(noter)).not.to.contain('note v');
      });
    });
  });
}
