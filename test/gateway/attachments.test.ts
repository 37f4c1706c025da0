// Agent attachments and media through the real gateway: multipart replies stored under
// MEDIA_DIR (size / type checked: 413 / 415, nothing written on refusal), sent as WhatsApp
// media (upload to /{phone-number-id}/media, then by id) and Instagram attachments
// (uploaded to /message_attachments, or by a public URL when PUBLIC_URL is set), served
// back to agents by GET /api/media/:id; inbound WhatsApp media fetched on demand
// (GET /{media-id}, then the download URL with the bearer token) and kept.

import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import nock from 'nock';
import { PHONE_NUMBER_ID, WA_ACCESS_TOKEN, backends, newPhone, newWamid, rand, waChange, waEnvelope, waTextBody, waitFor } from '../helpers/gateway-harness.js';
import { IG_ACCESS_TOKEN, IG_ACCOUNT_ID, igMessageBody, startChannelGateway, type ChannelGateway, type GraphRequest } from '../helpers/channel-harness.js';

// A real 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');
const MAX = 64 * 1024;

const newIgsid = () => `${Math.floor(1e15 + Math.random() * 8e15)}`;

/** Parses a recorded multipart request the way a server would. */
async function formOf(r: GraphRequest): Promise<FormData> {
  return new Response(new Uint8Array(r.raw), { headers: { 'content-type': r.contentType ?? '' } }).formData();
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

for (const backend of backends()) {
  describe(`attachments and media (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: ChannelGateway;
    let mediaDir: string;

    before(async () => {
      mediaDir = mkdtempSync(path.join(tmpdir(), 'chatgate-media-'));
      t = await startChannelGateway({ backend, env: { MEDIA_DIR: mediaDir, MEDIA_MAX_BYTES: String(MAX) } });
    });
    after(async () => {
      await t?.stop();
      rmSync(mediaDir, { recursive: true, force: true });
    });

    async function post(ticketId: string, form: FormData, token: string | null = t.adminToken) {
      const res = await fetch(`${t.url}/api/tickets/${ticketId}/messages`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, body: form });
      return { status: res.status, body: await res.json() as any };
    }
    async function waTicket(): Promise<{ id: string; phone: string }> {
      const phone = newPhone();
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'send me the invoice' }));
      const [tk] = await waitFor(async () => {
        const rows = await t.query('SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?', [phone]);
        return rows.length ? rows : null;
      }, 5000, 'the ticket');
      expect((await t.api('POST', `/api/tickets/${tk.id}/takeover`)).status).to.equal(200);
      return { id: tk.id, phone };
    }
    const status = async (id: string) => waitFor(async () => {
      const [m] = await t.query('SELECT status, error FROM messages WHERE id = ?', [id]);
      return m.status !== 'queued' ? m : null;
    }, 5000, 'the send');

    it('a multipart reply with an image: stored, uploaded to /{phone-number-id}/media, sent by id with the caption, served back to agents', async () => {
      const { id, phone } = await waTicket();
      t.graph.once((r) => r.path === `/v23.0/${PHONE_NUMBER_ID}/media`, { status: 200, body: { id: '4490709327384033' } });
      const form = new FormData();
      form.append('text', 'Here is your invoice');
      form.append('file', new Blob([PNG], { type: 'image/png' }), 'invoice.png');
      const res = await post(id, form);
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body).to.include({ kind: 'media', direction: 'out', author: 'agent', text: 'Here is your invoice' });
      expect(res.body.media).to.include({ type: 'image', mimeType: 'image/png', filename: 'invoice.png', size: PNG.length });
      expect((await status(res.body.id)).status).to.equal('sent');

      const upload = t.graph.requests.find((r) => r.path === `/v23.0/${PHONE_NUMBER_ID}/media`)!;
      expect(upload.method).to.equal('POST');
      expect(upload.auth).to.equal(`Bearer ${WA_ACCESS_TOKEN}`);
      expect(upload.contentType).to.match(/^multipart\/form-data; boundary=/);
      const fields = await formOf(upload);
      expect(fields.get('messaging_product')).to.equal('whatsapp');
      expect(fields.get('type')).to.equal('image/png');
      const file = fields.get('file') as File;
      expect(file.name).to.equal('invoice.png');
      expect(file.type).to.equal('image/png');
      expect(Buffer.from(await file.arrayBuffer()).equals(PNG)).to.equal(true);

      const sends = t.graph.messages().filter((r) => r.body?.to === phone);
      expect(sends.map((r) => r.body)).to.deep.equal([{
        messaging_product: 'whatsapp', recipient_type: 'individual', to: phone, type: 'image', image: { id: '4490709327384033', caption: 'Here is your invoice' },
      }]);
      // The upload happened before the send that refers to it.
      expect(t.graph.requests.indexOf(upload)).to.be.lessThan(t.graph.requests.indexOf(sends[0]!));

      const [att] = await t.query('SELECT * FROM attachments WHERE messageId = ?', [res.body.id]);
      expect(att).to.include({ ticketId: id, filename: 'invoice.png', contentType: 'image/png' });
      expect(Number(att.size)).to.equal(PNG.length);
      // The row carries the hex SHA-256 of the bytes (the column holds 64 characters since migration 0006).
      expect(att.sha256).to.equal(createHash('sha256').update(PNG).digest('hex'));
      expect(res.body.media.attachmentId).to.equal(att.id);
      const got = await fetch(`${t.url}/api/media/${att.id}`, { headers: { authorization: `Bearer ${t.adminToken}` } });
      expect(got.status).to.equal(200);
      expect(got.headers.get('content-type')).to.equal('image/png');
      expect(Buffer.from(await got.arrayBuffer()).equals(PNG)).to.equal(true);
      expect((await fetch(`${t.url}/api/media/${att.id}`)).status).to.equal(401);
      expect((await t.api('GET', '/api/media/NOSUCHFILE')).status).to.equal(404);
    });

    it('several files with text: the text first, then one media message per file, in order (a PDF goes as a document with its filename)', async () => {
      const { id, phone } = await waTicket();
      const form = new FormData();
      form.append('text', 'Two files for you');
      form.append('file', new Blob([PNG], { type: 'image/png' }), 'photo.png');
      form.append('file', new Blob([PDF], { type: 'application/pdf' }), 'terms.pdf');
      const res = await post(id, form);
      expect(res.status).to.equal(201);
      expect(res.body.messages.map((m: any) => m.kind)).to.deep.equal(['text', 'media', 'media']);
      for (const m of res.body.messages) expect((await status(m.id)).status).to.equal('sent');
      const bodies = t.graph.messages().filter((r) => r.body?.to === phone).map((r) => r.body);
      expect(bodies.map((b) => b.type)).to.deep.equal(['text', 'image', 'document']);
      expect(bodies[0].text.body).to.equal('Two files for you');
      expect(bodies[1].image).to.have.keys(['id']);
      expect(bodies[2].document).to.have.keys(['id', 'filename']);
      expect(bodies[2].document.filename).to.equal('terms.pdf');
    });

    it('refuses a file over MEDIA_MAX_BYTES (413) or of a type not allowed (415) and writes nothing', async () => {
      const { id } = await waTicket();
      const before = {
        messages: Number((await t.query('SELECT COUNT(*) AS n FROM messages WHERE ticketId = ?', [id]))[0].n),
        attachments: Number((await t.query('SELECT COUNT(*) AS n FROM attachments'))[0].n),
        files: filesUnder(mediaDir).length,
      };
      const big = new FormData();
      big.append('text', 'too big');
      big.append('file', new Blob([Buffer.alloc(MAX + 1, 7)], { type: 'image/png' }), 'big.png');
      const tooBig = await post(id, big);
      expect(tooBig.status).to.equal(413);
      expect(tooBig.body.error.code).to.equal('media_too_large');

      const exe = new FormData();
      exe.append('file', new Blob([Buffer.from('MZ\x90\x00')], { type: 'application/x-msdownload' }), 'setup.exe');
      const badType = await post(id, exe);
      expect(badType.status).to.equal(415);
      expect(badType.body.error.code).to.equal('unsupported_media_type');

      // A good file next to a bad one: the whole request is refused.
      const mixed = new FormData();
      mixed.append('file', new Blob([PNG], { type: 'image/png' }), 'ok.png');
      mixed.append('file', new Blob(['<html>'], { type: 'text/html' }), 'page.html');
      expect((await post(id, mixed)).status).to.equal(415);

      // Refused by the ticket's state after the files were read: the stored files are removed again.
      const phone = newPhone();
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'the bot has this one' }));
      const [botTicket] = await waitFor(async () => {
        const rows = await t.query('SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?', [phone]);
        return rows.length ? rows : null;
      }, 5000, 'the bot ticket');
      const fresh = new FormData();
      fresh.append('file', new Blob([Buffer.from(`unique ${rand(8)}`)], { type: 'text/plain' }), 'notes.txt');
      const conflict = await post(botTicket.id, fresh);
      expect(conflict.status).to.equal(409);
      expect(conflict.body.error.code).to.equal('bot_ticket');

      expect(Number((await t.query('SELECT COUNT(*) AS n FROM messages WHERE ticketId = ?', [id]))[0].n)).to.equal(before.messages);
      expect(Number((await t.query('SELECT COUNT(*) AS n FROM attachments'))[0].n)).to.equal(before.attachments);
      expect(filesUnder(mediaDir).length).to.equal(before.files);
      expect((await post(id, new FormData())).status).to.equal(400);
      expect((await post(id, big, null)).status).to.equal(401);
    });

    it('the JSON form of the same route keeps working', async () => {
      const { id, phone } = await waTicket();
      const res = await t.api('POST', `/api/tickets/${id}/messages`, { text: 'plain text reply' });
      expect(res.status).to.equal(201);
      expect((await status(res.body.id)).status).to.equal('sent');
      expect(t.graph.messages().filter((r) => r.body?.to === phone).map((r) => r.body.text?.body)).to.deep.equal(['plain text reply']);
    });

    it('inbound WhatsApp media is fetched on demand (GET /{media-id}, then the URL with the bearer token) and kept', async () => {
      const phone = newPhone();
      const mediaId = `10375432915${rand(3)}`;
      const wamid = newWamid();
      const image = { from: phone, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'image', image: { id: mediaId, mime_type: 'image/jpeg', sha256: 'abc', caption: 'my receipt' } };
      expect((await t.webhook(waEnvelope([[waChange([image], [{ wa_id: phone }])]]))).status).to.equal(200);
      const [msg] = await waitFor(async () => {
        const rows = await t.query("SELECT m.* FROM messages m JOIN tickets t ON t.id = m.ticketId JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ? AND m.direction = 'in'", [phone]);
        return rows.length ? rows : null;
      }, 5000, 'the inbound image');
      const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(rand(40))]);
      const downloadPath = `/whatsapp_business/attachments/?mid=${mediaId}&ext=1&hash=ATt`;
      t.graph.once((r) => r.method === 'GET' && r.path === `/v23.0/${mediaId}`, {
        status: 200,
        body: { messaging_product: 'whatsapp', url: `${t.graph.url}${downloadPath}`, mime_type: 'image/jpeg', sha256: 'abc', file_size: jpeg.length, id: mediaId },
      });
      t.graph.once((r) => r.method === 'GET' && r.path === downloadPath, { status: 200, raw: jpeg, headers: { 'content-type': 'image/jpeg' } });
      const before = t.graph.requests.length;
      const url = `${t.url}/api/tickets/${msg.ticketId}/messages/${msg.id}/media`;
      const first = await fetch(url, { headers: { authorization: `Bearer ${t.adminToken}` } });
      expect(first.status).to.equal(200);
      expect(first.headers.get('content-type')).to.equal('image/jpeg');
      expect(Buffer.from(await first.arrayBuffer()).equals(jpeg)).to.equal(true);
      const calls = t.graph.requests.slice(before);
      expect(calls.map((c) => [c.method, c.path, c.auth])).to.deep.equal([
        ['GET', `/v23.0/${mediaId}`, `Bearer ${WA_ACCESS_TOKEN}`],
        ['GET', downloadPath, `Bearer ${WA_ACCESS_TOKEN}`],
      ]);
      // Kept: the second view does not go back to Meta (whose URL expires after minutes).
      const second = await fetch(url, { headers: { authorization: `Bearer ${t.adminToken}` } });
      expect(Buffer.from(await second.arrayBuffer()).equals(jpeg)).to.equal(true);
      expect(t.graph.requests.length).to.equal(before + 2);
      const rows = await t.query('SELECT * FROM attachments WHERE messageId = ?', [msg.id]);
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({ contentType: 'image/jpeg', ticketId: msg.ticketId, sha256: createHash('sha256').update(jpeg).digest('hex') });
      // A message of another ticket, or a text without media, is 404.
      expect((await fetch(`${t.url}/api/tickets/OTHER/messages/${msg.id}/media`, { headers: { authorization: `Bearer ${t.adminToken}` } })).status).to.equal(404);
      expect((await fetch(url)).status).to.equal(401);
    });

    it('inbound Instagram media is fetched from its CDN URL on first view and kept', async () => {
      const igsid = newIgsid();
      const cdn = 'https://lookaside.fbsbx.com';
      const assetPath = `/ig_messaging_cdn/?asset_id=${rand(6)}&signature=AbC`;
      const body = igMessageBody({ from: igsid, mid: `m_${rand(10)}`, text: '', timestamp: Date.now() });
      (body.entry as any)[0].messaging[0].message = { mid: `m_${rand(10)}`, attachments: [{ type: 'image', payload: { url: cdn + assetPath } }] };
      expect((await t.webhook(body, 'instagram')).status).to.equal(200);
      const [msg] = await waitFor(async () => {
        const rows = await t.query("SELECT m.* FROM messages m JOIN tickets t ON t.id = m.ticketId JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ? AND m.direction = 'in'", [igsid]);
        return rows.length ? rows : null;
      }, 5000, 'the inbound image');
      const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from(rand(30))]);
      nock.disableNetConnect();
      nock.enableNetConnect('127.0.0.1');
      const scope = nock(cdn).get(assetPath).once().reply(200, jpeg, { 'content-type': 'image/jpeg' });
      try {
        const url = `${t.url}/api/tickets/${msg.ticketId}/messages/${msg.id}/media`;
        const first = await fetch(url, { headers: { authorization: `Bearer ${t.adminToken}` } });
        expect(first.status).to.equal(200);
        expect(first.headers.get('content-type')).to.equal('image/jpeg');
        expect(Buffer.from(await first.arrayBuffer()).equals(jpeg)).to.equal(true);
        expect(scope.isDone()).to.equal(true);
        // Kept: the CDN URL expires, the second view is served from MEDIA_DIR.
        const second = await fetch(url, { headers: { authorization: `Bearer ${t.adminToken}` } });
        expect(Buffer.from(await second.arrayBuffer()).equals(jpeg)).to.equal(true);
      } finally {
        nock.cleanAll();
        nock.enableNetConnect();
      }
    });

    it('Instagram without PUBLIC_URL: the file is uploaded to /message_attachments and sent by attachment_id; the caption follows as text', async () => {
      const igsid = newIgsid();
      await t.webhook(igMessageBody({ from: igsid, mid: `m_${rand(10)}`, text: 'photo please', timestamp: Date.now() }), 'instagram');
      const [tk] = await waitFor(async () => {
        const rows = await t.query('SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?', [igsid]);
        return rows.length ? rows : null;
      }, 5000, 'the Instagram ticket');
      await t.api('POST', `/api/tickets/${tk.id}/takeover`);
      t.graph.once((r) => r.path === `/v23.0/${IG_ACCOUNT_ID}/message_attachments`, { status: 200, body: { attachment_id: '1857777774821032' } });
      const form = new FormData();
      form.append('text', 'Here it is');
      form.append('file', new Blob([PNG], { type: 'image/png' }), 'product.png');
      const res = await post(tk.id, form);
      expect(res.status).to.equal(201);
      expect((await status(res.body.id)).status).to.equal('sent');
      const upload = t.graph.requests.find((r) => r.path === `/v23.0/${IG_ACCOUNT_ID}/message_attachments`)!;
      expect(upload.auth).to.equal(`Bearer ${IG_ACCESS_TOKEN}`);
      const fields = await formOf(upload);
      expect(fields.get('platform')).to.equal('instagram');
      expect(JSON.parse(String(fields.get('message')))).to.deep.equal({ attachment: { type: 'image', payload: { is_reusable: true } } });
      const file = fields.get('filedata') as File;
      expect(file.name).to.equal('product.png');
      expect(Buffer.from(await file.arrayBuffer()).equals(PNG)).to.equal(true);
      const sends = t.graph.messages().filter((r) => r.path === `/v23.0/${IG_ACCOUNT_ID}/messages` && r.body?.recipient?.id === igsid);
      expect(sends.map((r) => r.body)).to.deep.equal([
        { recipient: { id: igsid }, message: { attachment: { type: 'image', payload: { attachment_id: '1857777774821032' } } } },
        { recipient: { id: igsid }, message: { text: 'Here it is' } },
      ]);
    });

    describe('with PUBLIC_URL', () => {
      let p: ChannelGateway;
      const PUBLIC = 'https://support.example.com';
      before(async () => {
        p = await startChannelGateway({ backend, env: { MEDIA_DIR: mediaDir, PUBLIC_URL: PUBLIC } });
      });
      after(async () => {
        await p?.stop();
      });

      it('Instagram attachments go by a public capability URL that serves the file without a token (only with the right hash)', async () => {
        const igsid = newIgsid();
        await p.webhook(igMessageBody({ from: igsid, mid: `m_${rand(10)}`, text: 'hi', timestamp: Date.now() }), 'instagram');
        const [tk] = await waitFor(async () => {
          const rows = await p.query('SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?', [igsid]);
          return rows.length ? rows : null;
        }, 5000, 'the Instagram ticket');
        await p.api('POST', `/api/tickets/${tk.id}/takeover`);
        const form = new FormData();
        form.append('file', new Blob([PNG], { type: 'image/png' }), 'x.png');
        const res = await fetch(`${p.url}/api/tickets/${tk.id}/messages`, { method: 'POST', headers: { authorization: `Bearer ${p.adminToken}` }, body: form });
        const body = await res.json() as any;
        expect(res.status).to.equal(201);
        await waitFor(async () => (await p.query('SELECT status FROM messages WHERE id = ?', [body.id]))[0].status === 'sent', 5000, 'sent');
        const [att] = await p.query('SELECT * FROM attachments WHERE messageId = ?', [body.id]);
        const publicUrl = `${PUBLIC}/media/public/${att.id}/${String(att.storageKey).split('/').pop()}`;
        const sends = p.graph.messages().filter((r) => r.body?.recipient?.id === igsid);
        expect(sends.map((r) => r.body)).to.deep.equal([{ recipient: { id: igsid }, message: { attachment: { type: 'image', payload: { url: publicUrl } } } }]);
        expect(p.graph.requests.some((r) => r.path.endsWith('/message_attachments'))).to.equal(false);
        const served = await fetch(publicUrl.replace(PUBLIC, p.url));
        expect(served.status).to.equal(200);
        expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).to.equal(true);
        expect((await fetch(`${p.url}/media/public/${att.id}/${'0'.repeat(64)}`)).status).to.equal(404);
        // The webhook URLs in the channel report use PUBLIC_URL.
        const channels = (await p.api('GET', '/api/channels')).body;
        expect(channels.find((c: any) => c.transport === 'instagram').webhookUrl).to.equal(`${PUBLIC}/webhooks/instagram`);
      });
    });
  });
}
