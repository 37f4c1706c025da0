// The whatsapp-web.js transport without a phone or a browser: a fake client (an
// EventEmitter emitting real-shaped whatsapp-web.js objects) through the adapter's
// factory. Inbound normalisation, own messages ignored, numbered choices, QR exposure,
// reconnect with backoff on injected timers, the session lease (one client across
// instances, sends forwarded to the holder), then the whole gateway: a customer message
// becomes a ticket and the flow bot answers through sendMessage; GET /api/channels.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { SendError, type InboundMessage, type OutboundEnvelope, type WebhookBatch } from '../../adapters/types.js';
import { SqlSessionStore, WhatsAppWebAdapter, parseWebMessage, type Timers, type WebClient, type WebClientFactory, type WebMessage } from '../../adapters/whatsapp-web/index.js';
import { MemoryCoordinator, MemoryHub } from '../../gateway/coordination/memory.js';
import { backends, newPhone, rand, waitFor } from '../helpers/gateway-harness.js';
import { startChannelGateway, type ChannelGateway } from '../helpers/channel-harness.js';

class FakeClient extends EventEmitter {
  initialized = 0;
  destroyed = 0;
  failInit: Error | null = null;
  readonly sent: { chatId: string; content: unknown; options?: unknown }[] = [];
  async initialize(): Promise<void> {
    this.initialized++;
    if (this.failInit) throw this.failInit;
  }
  async sendMessage(chatId: string, content: unknown, options?: unknown) {
    this.sent.push({ chatId, content, ...(options ? { options } : {}) });
    return { id: { _serialized: `true_${chatId}_3EB0${rand(6).toUpperCase()}` } };
  }
  async destroy(): Promise<void> {
    this.destroyed++;
  }
  readonly known = new Map<string, WebMessage>();
  async getMessageById(id: string) {
    return this.known.get(id) ?? null;
  }
}

function fakeFactory(): WebClientFactory & { clients: FakeClient[] } {
  const clients: FakeClient[] = [];
  return {
    clients,
    create: () => {
      const c = new FakeClient();
      clients.push(c);
      return c as unknown as WebClient;
    },
  };
}

/** Timers the test fires by hand. */
function manualTimers(): Timers & { pending: { fn: () => void; ms: number; id: number }[]; fire(): number } {
  let n = 0;
  const pending: { fn: () => void; ms: number; id: number }[] = [];
  return {
    pending,
    setTimeout: (fn, ms) => {
      const t = { fn, ms, id: ++n };
      pending.push(t);
      return t.id;
    },
    clearTimeout: (h) => {
      const i = pending.findIndex((p) => p.id === h);
      if (i >= 0) pending.splice(i, 1);
    },
    fire() {
      const t = pending.shift();
      if (!t) throw new Error('no timer pending');
      t.fn();
      return t.ms;
    },
  };
}

/** A real-shaped whatsapp-web.js Message (the fields the library fills for a text from a person). */
function webMessage(o: { from: string; body: string; fromMe?: boolean; type?: string; name?: string; ts?: number; extra?: Partial<WebMessage> }): WebMessage {
  const id = `3EB0${rand(8).toUpperCase()}`;
  const chat = o.fromMe ? o.from : o.from;
  return {
    id: { fromMe: !!o.fromMe, remote: chat, id, _serialized: `${o.fromMe ? 'true' : 'false'}_${chat}_${id}` },
    from: o.fromMe ? '15550100000@c.us' : o.from,
    to: o.fromMe ? o.from : '15550100000@c.us',
    body: o.body,
    type: o.type ?? 'chat',
    timestamp: o.ts ?? Math.floor(Date.now() / 1000),
    hasMedia: false,
    fromMe: !!o.fromMe,
    isStatus: false,
    hasQuotedMsg: false,
    _data: { notifyName: o.name ?? 'Ana' },
    ...(o.extra ?? {}),
  };
}

class Sink {
  readonly batches: Partial<WebhookBatch>[] = [];
  get messages(): InboundMessage[] {
    return this.batches.flatMap((b) => b.messages ?? []);
  }
  async accept(b: Partial<WebhookBatch>) {
    this.batches.push(b);
    return {};
  }
}

const envelope = (to: string, content: OutboundEnvelope['content']): OutboundEnvelope => ({ messageId: 'm1', channel: 'whatsapp', account: 'whatsapp-web', to, content, author: 'bot' });
const tick = () => new Promise((r) => setImmediate(r));

describe('whatsapp-web adapter (fake client)', () => {
  // Each adapter gets its own coordinator on one hub: like separate processes on one Redis.
  let hub: MemoryHub;
  const coords: MemoryCoordinator[] = [];
  const started: WhatsAppWebAdapter[] = [];
  beforeEach(() => {
    hub = new MemoryHub();
  });
  afterEach(async () => {
    for (const a of started.splice(0)) await a.stop();
    for (const c of coords.splice(0)) await c.close();
  });

  async function adapter(o: { factory?: ReturnType<typeof fakeFactory>; timers?: Timers; sink?: Sink; qrs?: string[] } = {}) {
    const factory = o.factory ?? fakeFactory();
    const sink = o.sink ?? new Sink();
    const coord = new MemoryCoordinator({ hub });
    coords.push(coord);
    const a = new WhatsAppWebAdapter({ factory, sink, coord, timers: o.timers ?? manualTimers(), printQr: (qr) => o.qrs?.push(qr), backoff: { baseMs: 2000, maxMs: 60_000 } });
    started.push(a);
    await a.start();
    await waitFor(() => factory.clients.length > 0 || a.status().state === 'standby', 1000, 'lease decision');
    await tick();
    return { a, factory, sink };
  }

  it('parses a real-shaped message: number from the chat id, ms timestamp, profile name; own/group/status ignored', () => {
    const m = webMessage({ from: '34600111222@c.us', body: 'hola', ts: 1767600000, name: 'Ana López' });
    expect(parseWebMessage(m, 'whatsapp-web')).to.deep.equal({
      message: { channel: 'whatsapp', account: 'whatsapp-web', externalId: m.id._serialized, from: '34600111222', contactName: 'Ana López', timestamp: 1767600000000, kind: 'text', text: 'hola' },
    });
    expect(parseWebMessage(webMessage({ from: '34600111222@c.us', body: 'mine', fromMe: true }), 'w')).to.have.property('ignore').that.match(/own message/);
    expect(parseWebMessage(webMessage({ from: '120363025246125486@g.us', body: 'group' }), 'w')).to.have.property('ignore').that.match(/group/);
    expect(parseWebMessage(webMessage({ from: 'status@broadcast', body: 'story', extra: { isStatus: true } }), 'w')).to.have.property('ignore');
    const voice = parseWebMessage(webMessage({ from: '34600111222@c.us', body: '', type: 'ptt', extra: { hasMedia: true, _data: { mimetype: 'audio/ogg; codecs=opus' } } }), 'w');
    expect((voice as any).message).to.include({ kind: 'media' });
    expect((voice as any).message.media[0]).to.include({ type: 'voice', mimeType: 'audio/ogg; codecs=opus' });
  });

  it('starts the client, exposes the raw QR while waiting, then ready; customer messages go to the sink, own messages do not', async () => {
    const qrs: string[] = [];
    const { a, factory, sink } = await adapter({ qrs });
    expect(factory.clients).to.have.length(1);
    const client = factory.clients[0]!;
    expect(client.initialized).to.equal(1);
    expect(a.status().state).to.equal('starting');
    const qr = '2@Jk3mZ9xWq,AbCdEf==,GhIjKl==,MnOpQr==';
    client.emit('qr', qr);
    expect(a.status()).to.include({ state: 'qr', qr });
    expect(qrs).to.deep.equal([qr]);
    client.emit('ready');
    expect(a.status()).to.include({ state: 'ready', qr: null });

    client.emit('message', webMessage({ from: '34600111222@c.us', body: 'our own echo', fromMe: true }));
    const m = webMessage({ from: '34600111222@c.us', body: 'I need help' });
    client.emit('message', m);
    await waitFor(() => sink.messages.length === 1, 1000, 'the message in the sink');
    await tick();
    expect(sink.messages).to.have.length(1);
    expect(sink.messages[0]).to.include({ externalId: m.id._serialized, from: '34600111222', text: 'I need help', contactName: 'Ana' });
  });

  it('fetches inbound media through the client (getMessageById + downloadMedia) once connected', async () => {
    const { a, factory } = await adapter();
    const early = await a.fetchMedia('x').catch((e) => e);
    expect(early).to.include({ code: 'media_unavailable' });
    const client = factory.clients[0]!;
    client.emit('ready');
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const m = webMessage({ from: '34600111222@c.us', body: '', type: 'image', extra: { hasMedia: true, downloadMedia: async () => ({ data: jpeg.toString('base64'), mimetype: 'image/jpeg' }) } });
    client.known.set(m.id._serialized, m);
    const got = await a.fetchMedia(m.id._serialized);
    expect(got.data.equals(jpeg)).to.equal(true);
    expect(got).to.include({ mimeType: 'image/jpeg', size: jpeg.length });
    expect(await a.fetchMedia('false_gone@c.us_X').catch((e) => e.code)).to.equal('media_unavailable');
  });

  it('renders choices as numbered text, sends to <number>@c.us, refuses templates, and is not_connected (retryable) before ready', async () => {
    const { a, factory } = await adapter();
    const notReady = await a.send(envelope('34600111222', { kind: 'text', text: 'hi' })).catch((e) => e);
    expect(notReady).to.be.instanceOf(SendError);
    expect(notReady).to.include({ code: 'not_connected', retryable: true });
    factory.clients[0]!.emit('ready');
    const r = await a.send(envelope('34600111222', { kind: 'choice', text: 'How can I help?', options: [{ id: 'faq', title: 'FAQ' }, { id: 'agent', title: 'Talk to an agent' }] }));
    expect(r.externalId).to.match(/^true_34600111222@c\.us_/);
    expect(factory.clients[0]!.sent).to.deep.equal([{ chatId: '34600111222@c.us', content: 'How can I help?\n\n1. FAQ\n2. Talk to an agent' }]);
    const tpl = await a.send(envelope('34600111222', { kind: 'template', name: 'x', language: 'en', params: [] })).catch((e) => e);
    expect(tpl).to.include({ code: 'templates_unsupported', retryable: false });
  });

  it('reconnects after a disconnect with exponential backoff on the injected timers; ready resets the backoff', async () => {
    const timers = manualTimers();
    const { a, factory } = await adapter({ timers });
    factory.clients[0]!.emit('ready');
    factory.clients[0]!.emit('disconnected', 'NAVIGATION');
    expect(a.status()).to.include({ state: 'reconnecting', attempt: 1 });
    await tick();
    expect(factory.clients[0]!.destroyed).to.equal(1);
    expect(timers.pending.map((p) => p.ms)).to.deep.equal([2000]);
    expect(timers.fire()).to.equal(2000);
    expect(factory.clients).to.have.length(2);
    expect(factory.clients[1]!.initialized).to.equal(1);

    // The new client drops too before getting ready: the next wait doubles.
    factory.clients[1]!.emit('disconnected', 'CONFLICT');
    expect(timers.fire()).to.equal(4000);
    // Events of a replaced client are ignored.
    factory.clients[1]!.emit('ready');
    expect(a.status().state).to.equal('starting');
    factory.clients[2]!.emit('ready');
    expect(a.status()).to.include({ state: 'ready', attempt: 0 });
    factory.clients[2]!.emit('disconnected', 'LOGOUT');
    expect(timers.pending.map((p) => p.ms)).to.deep.equal([2000]);
  });

  it('a client that cannot start (initialize rejects) is retried with backoff', async () => {
    const timers = manualTimers();
    const factory = fakeFactory();
    const create = factory.create;
    factory.create = () => {
      const c = create() as unknown as FakeClient;
      if (factory.clients.length === 1) c.failInit = new Error('Failed to launch the browser process');
      return c as unknown as WebClient;
    };
    const { a } = await adapter({ factory, timers });
    await waitFor(() => timers.pending.length === 1, 1000, 'a reconnect scheduled');
    expect(a.status()).to.include({ state: 'reconnecting' });
    expect(a.status().lastError).to.match(/Failed to launch/);
    timers.fire();
    expect(factory.clients).to.have.length(2);
  });

  it('the session lease: a second instance does not start a client, forwards its sends to the holder, and takes over when the holder stops', async () => {
    const f1 = fakeFactory();
    const f2 = fakeFactory();
    const first = await adapter({ factory: f1 });
    const second = await adapter({ factory: f2 });
    expect(f1.clients).to.have.length(1);
    expect(f2.clients).to.have.length(0);
    expect(second.a.status().state).to.equal('standby');
    f1.clients[0]!.emit('ready');

    const r = await second.a.send(envelope('34600111222', { kind: 'text', text: 'sent by the holder' }));
    expect(r.externalId).to.match(/^true_34600111222@c\.us_/);
    expect(f1.clients[0]!.sent.map((s) => s.content)).to.deep.equal(['sent by the holder']);

    await first.a.stop();
    await waitFor(() => f2.clients.length === 1, 1000, 'the standby taking over');
    expect(f1.clients[0]!.destroyed).to.equal(1);
    expect(second.a.status().state).to.equal('starting');
  });
});

for (const backend of backends()) {
  describe(`whatsapp-web through the gateway (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: ChannelGateway;
    const factory = fakeFactory();

    before(async () => {
      t = await startChannelGateway({ backend, bot: 'flows', env: { WHATSAPP_WEB: '1', CHROMIUM_PATH: '/nonexistent/chromium' }, whatsappWeb: { factory, timers: manualTimers(), printQr: () => undefined } });
      await waitFor(() => factory.clients.length === 1, 5000, 'the client started');
    });
    after(async () => {
      await t?.stop();
    });

    it('GET /api/channels shows the raw QR while waiting for login, then ready; webhook URLs and missing settings for the others', async () => {
      const qr = `2@${rand(12)},${rand(8)}==`;
      factory.clients[0]!.emit('qr', qr);
      const res = await t.api('GET', '/api/channels');
      expect(res.status).to.equal(200);
      const web = res.body.find((c: any) => c.transport === 'whatsapp-web');
      expect(web).to.include({ channel: 'whatsapp', account: 'whatsapp-web', status: 'qr', qr, configured: false, webhookUrl: null });
      // The browser path does not exist here: named as the setting to fix.
      expect(web.missing).to.deep.equal(['CHROMIUM_PATH']);
      const port = new URL(t.url).port;
      const cloud = res.body.find((c: any) => c.transport === 'whatsapp-cloud');
      expect(cloud).to.include({ configured: true, status: 'configured', webhookUrl: `http://localhost:${port}/webhooks/whatsapp`, qr: null });
      expect(cloud.missing).to.deep.equal([]);
      const ig = res.body.find((c: any) => c.transport === 'instagram');
      expect(ig).to.include({ configured: true, webhookUrl: `http://localhost:${port}/webhooks/instagram` });
      const email = res.body.find((c: any) => c.transport === 'email');
      expect(email).to.include({ configured: false, status: 'not_configured' });
      expect(email.missing).to.deep.equal(['IMAP_URL', 'SMTP_URL', 'SUPPORT_EMAIL']);

      factory.clients[0]!.emit('ready');
      const after = (await t.api('GET', '/api/channels')).body.find((c: any) => c.transport === 'whatsapp-web');
      expect(after).to.include({ status: 'ready', qr: null });

      // Agents who are not admins may not read channel settings.
      const agent = await t.api('POST', '/api/agents', { name: 'Plain agent', role: 'agent' });
      expect((await t.api('GET', '/api/channels', undefined, agent.body.token)).status).to.equal(403);
      expect((await t.api('GET', '/api/channels', undefined, null)).status).to.equal(401);
    });

    it('the RemoteAuth session store keeps a multi-chunk zip in channel_state and restores it byte for byte', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'wweb-'));
      const store = new SqlSessionStore(t.gw.db.sql, dir);
      const zip = randomBytes(150_000); // several 48 KB base64 chunks
      writeFileSync(path.join(dir, 'RemoteAuth-gateway.zip'), zip);
      expect(await store.sessionExists({ session: 'RemoteAuth-gateway' })).to.equal(false);
      await store.save({ session: 'RemoteAuth-gateway' });
      expect(await store.sessionExists({ session: 'RemoteAuth-gateway' })).to.equal(true);
      expect(Number((await t.query("SELECT COUNT(*) AS n FROM channel_state WHERE id LIKE 'whatsapp-web:session:RemoteAuth-gateway:%'"))[0].n)).to.be.greaterThan(3);
      const target = path.join(dir, 'restored.zip');
      await store.extract({ session: 'RemoteAuth-gateway', path: target });
      expect(readFileSync(target).equals(zip)).to.equal(true);
      // A smaller session replaces the old one entirely.
      await store.put('RemoteAuth-gateway', Buffer.from('tiny'));
      expect((await store.get('RemoteAuth-gateway'))!.toString()).to.equal('tiny');
      await store.delete({ session: 'RemoteAuth-gateway' });
      expect(await store.sessionExists({ session: 'RemoteAuth-gateway' })).to.equal(false);
      rmSync(dir, { recursive: true, force: true });
    });

    it('a customer message becomes a ticket and the flow bot answers with numbered choices through sendMessage; own messages are not stored', async () => {
      const client = factory.clients[0]!;
      client.emit('ready');
      const phone = newPhone();
      client.emit('message', webMessage({ from: `${phone}@c.us`, body: 'my own note to self', fromMe: true }));
      client.emit('message', webMessage({ from: `${phone}@c.us`, body: 'hello', name: 'Marta' }));
      const reply = await waitFor(() => client.sent.find((s) => s.chatId === `${phone}@c.us`), 10_000, 'the bot reply');
      expect(reply.content).to.equal("Hi Marta! I'm the virtual assistant. How can I help you?\n\n1. FAQ\n2. Order status\n3. Talk to an agent");
      const tickets = await t.query("SELECT t.* FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?", [phone]);
      expect(tickets).to.have.length(1);
      expect(tickets[0]).to.include({ channel: 'whatsapp', account: 'whatsapp-web', type: 'bot' });
      const inbound = await t.query("SELECT text FROM messages WHERE ticketId = ? AND direction = 'in'", [tickets[0].id]);
      expect(inbound.map((m: any) => m.text)).to.deep.equal(['hello']);
      const out = await waitFor(async () => {
        const rows = await t.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out'", [tickets[0].id]);
        return rows[0]?.status === 'sent' ? rows : null;
      }, 5000, 'the reply recorded as sent');

      // Delivery acks from the phone move the status forward.
      client.emit('message_ack', { id: { _serialized: out[0].externalId }, fromMe: true, from: '15550100000@c.us', body: '', type: 'chat', timestamp: 0, hasMedia: false } as WebMessage, 3);
      await waitFor(async () => (await t.query('SELECT status FROM messages WHERE id = ?', [out[0].id]))[0].status === 'read', 5000, 'read');

      // Typing the option's number works on this channel too.
      client.emit('message', webMessage({ from: `${phone}@c.us`, body: '3', name: 'Marta' }));
      await waitFor(async () => (await t.query('SELECT type FROM tickets WHERE id = ?', [tickets[0].id]))[0].type === 'agent', 10_000, 'handoff to agents');
    });
  });
}
