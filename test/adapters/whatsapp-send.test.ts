// The WhatsApp Cloud API sender: exact request bodies (as Meta documents them) and error handling.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import nock from 'nock';
import { SendError, type OutboundContent, type OutboundEnvelope } from '../../adapters/types.js';
import { createWhatsAppCloudAdapter } from '../../adapters/whatsapp-cloud/adapter.js';

const GRAPH = 'https://graph.wa.test';
const PHONE_ID = '106540352242922';
const TO = '34600111222';
const PATH = `/v23.0/${PHONE_ID}/messages`;

const adapter = createWhatsAppCloudAdapter({ graphUrl: GRAPH, graphVersion: 'v23.0', accessToken: 'wa-token', phoneNumberId: PHONE_ID });
const envelope = (content: OutboundContent): OutboundEnvelope => ({ messageId: 'our-1', channel: 'whatsapp', account: PHONE_ID, to: TO, content, author: 'bot' });
const graph = () => nock(GRAPH, { reqheaders: { authorization: 'Bearer wa-token' } });
const accepted = (id: string) => ({ messaging_product: 'whatsapp', contacts: [{ input: TO, wa_id: TO }], messages: [{ id }] });

async function sendError(promise: Promise<unknown>): Promise<SendError> {
  try {
    await promise;
  } catch (e) {
    expect(e).to.be.instanceOf(SendError);
    return e as SendError;
  }
  throw new Error('expected a SendError');
}

describe('WhatsApp Cloud sender', () => {
  before(() => nock.disableNetConnect());
  after(() => nock.enableNetConnect());
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending, 'every expected request was made').to.deep.equal([]);
  });

  it('exposes the channel and its capabilities', () => {
    expect(adapter.channel).to.equal('whatsapp');
    expect(adapter.capabilities.buttons).to.deep.equal({ max: 3, titleMax: 20 });
  });

  it('text: preview_url false, bearer token, the wamid back', async () => {
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'text',
      text: { preview_url: false, body: 'Hello https://example.com' },
    }).reply(200, accepted('wamid.text'));
    expect(await adapter.send(envelope({ kind: 'text', text: 'Hello https://example.com' }))).to.deep.equal({ externalId: 'wamid.text' });
  });

  it('a customer known only by a business-scoped user id is addressed with recipient', async () => {
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', recipient: 'US.13491208655302741918', type: 'text',
      text: { preview_url: false, body: 'Hi' },
    }).reply(200, accepted('wamid.bsuid'));
    await adapter.send({ ...envelope({ kind: 'text', text: 'Hi' }), to: 'US.13491208655302741918' });
  });

  it('text over 4096 characters goes as several messages in order', async () => {
    const text = `${'a'.repeat(4000)}\n\n${'b'.repeat(200)}`;
    graph().post(PATH, (b) => b.text.body === 'a'.repeat(4000)).reply(200, accepted('wamid.p1'));
    graph().post(PATH, (b) => b.text.body === 'b'.repeat(200)).reply(200, accepted('wamid.p2'));
    expect(await adapter.send(envelope({ kind: 'text', text }))).to.deep.equal({ externalId: 'wamid.p2' });
  });

  it('choice with up to 3 options: interactive reply buttons', async () => {
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'How can we help?' },
        action: { buttons: [
          { type: 'reply', reply: { id: 'faq', title: 'FAQ' } },
          { type: 'reply', reply: { id: 'order', title: 'Order status' } },
          { type: 'reply', reply: { id: 'agent', title: 'Talk to an agent' } },
        ] },
      },
    }).reply(200, accepted('wamid.buttons'));
    const result = await adapter.send(envelope({ kind: 'choice', text: 'How can we help?', options: [
      { id: 'faq', title: 'FAQ' }, { id: 'order', title: 'Order status' }, { id: 'agent', title: 'Talk to an agent' },
    ] }));
    expect(result.externalId).to.equal('wamid.buttons');
  });

  it('choice with 4 to 10 options: interactive list with its button label', async () => {
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'interactive',
      interactive: {
        type: 'list',
        body: { text: 'Choose a topic' },
        action: {
          button: 'Topics',
          sections: [{ rows: [
            { id: 't1', title: 'Shipping' },
            { id: 't2', title: 'Returns', description: 'Send something back' },
            { id: 't3', title: 'Payments' },
            { id: 't4', title: 'Warranty' },
          ] }],
        },
      },
    }).reply(200, accepted('wamid.list'));
    const result = await adapter.send(envelope({ kind: 'choice', text: 'Choose a topic', buttonLabel: 'Topics', options: [
      { id: 't1', title: 'Shipping' }, { id: 't2', title: 'Returns', description: 'Send something back' }, { id: 't3', title: 'Payments' }, { id: 't4', title: 'Warranty' },
    ] }));
    expect(result.externalId).to.equal('wamid.list');
  });

  it('choice with more than 10 options: numbered text', async () => {
    const options = Array.from({ length: 11 }, (_, i) => ({ id: `o${i}`, title: `Item ${i + 1}` }));
    graph().post(PATH, (b) => b.type === 'text' && b.text.body.startsWith('Pick one\n\n1. Item 1\n2. Item 2') && b.text.body.endsWith('11. Item 11'))
      .reply(200, accepted('wamid.numbered'));
    expect((await adapter.send(envelope({ kind: 'choice', text: 'Pick one', options }))).externalId).to.equal('wamid.numbered');
  });

  it('template: name, language code and body parameters', async () => {
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'template',
      template: {
        name: 'order_update',
        language: { code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: '#1234' }] }],
      },
    }).reply(200, accepted('wamid.template'));
    const result = await adapter.send(envelope({ kind: 'template', name: 'order_update', language: 'en_US', params: ['Ana', '#1234'] }));
    expect(result.externalId).to.equal('wamid.template');
  });

  it('template without parameters has no components', async () => {
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'template',
      template: { name: 'hello_world', language: { code: 'en_US' } },
    }).reply(200, accepted('wamid.hello'));
    await adapter.send(envelope({ kind: 'template', name: 'hello_world', language: 'en_US', params: [] }));
  });

  it('media by link with caption, by id, and a document with filename', async () => {
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'image',
      image: { link: 'https://cdn.example.com/p.jpg', caption: 'Your receipt' },
    }).reply(200, accepted('wamid.image'));
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'video', video: { id: '1013859600285441' },
    }).reply(200, accepted('wamid.video'));
    graph().post(PATH, {
      messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'document',
      document: { link: 'https://cdn.example.com/i.pdf', caption: 'Invoice', filename: 'invoice.pdf' },
    }).reply(200, accepted('wamid.doc'));
    expect((await adapter.send(envelope({ kind: 'media', media: { type: 'image', url: 'https://cdn.example.com/p.jpg' }, text: 'Your receipt' }))).externalId).to.equal('wamid.image');
    expect((await adapter.send(envelope({ kind: 'media', media: { type: 'video', mediaId: '1013859600285441' } }))).externalId).to.equal('wamid.video');
    expect((await adapter.send(envelope({ kind: 'media', media: { type: 'file', url: 'https://cdn.example.com/i.pdf', filename: 'invoice.pdf' }, text: 'Invoice' }))).externalId).to.equal('wamid.doc');
  });

  it('audio takes no caption: the text follows as its own message', async () => {
    graph().post(PATH, { messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'audio', audio: { id: 'au1' } }).reply(200, accepted('wamid.audio'));
    graph().post(PATH, { messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'text', text: { preview_url: false, body: 'Listen' } }).reply(200, accepted('wamid.after'));
    await adapter.send(envelope({ kind: 'media', media: { type: 'audio', mediaId: 'au1' }, text: 'Listen' }));
  });

  it('a stored file (path) is uploaded to /{phone-number-id}/media, then sent by id', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'wa-upload-'));
    const file = path.join(dir, 'photo.png');
    writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    let uploaded = '';
    graph().post(`/v23.0/${PHONE_ID}/media`, (body) => {
      // nock hands binary bodies over hex-encoded
      const text = String(body);
      uploaded = /^[0-9a-f]+$/.test(text) ? Buffer.from(text, 'hex').toString('latin1') : text;
      return true;
    }).reply(200, { id: 'media-77' });
    graph().post(PATH, { messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'image', image: { id: 'media-77' } }).reply(200, accepted('wamid.up'));
    const result = await adapter.send(envelope({ kind: 'media', media: { type: 'image', path: file, mimeType: 'image/png' } }));
    expect(result.externalId).to.equal('wamid.up');
    expect(uploaded).to.include('name="messaging_product"').and.include('whatsapp').and.include('filename="photo.png"').and.include('image/png');
  });

  it('markRead posts the read status for a message', async () => {
    graph().post(PATH, { messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.in' }).reply(200, { success: true });
    await adapter.markRead('wamid.in');
  });

  it('fetchMedia: GET /{media-id} for the url, then the bytes with the bearer token', async () => {
    graph().get('/v23.0/id_image').reply(200, { url: 'https://lookaside.wa.test/whatsapp_business/attachments/?mid=1', mime_type: 'image/jpeg', file_size: 3, id: 'id_image' });
    nock('https://lookaside.wa.test', { reqheaders: { authorization: 'Bearer wa-token' } })
      .get('/whatsapp_business/attachments/').query({ mid: '1' })
      .reply(200, Buffer.from([1, 2, 3]), { 'content-type': 'image/jpeg' });
    const media = await adapter.fetchMedia('id_image');
    expect(media.mimeType).to.equal('image/jpeg');
    expect([...media.data]).to.deep.equal([1, 2, 3]);
    expect(media.size).to.equal(3);
  });

  describe('errors', () => {
    it('130429 (rate limit hit) is retryable, with Retry-After when given', async () => {
      graph().post(PATH).reply(400, { error: { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429, fbtrace_id: 'x' } }, { 'retry-after': '7' });
      const e = await sendError(adapter.send(envelope({ kind: 'text', text: 'hi' })));
      expect(e).to.include({ code: '130429', retryable: true, retryAfterMs: 7000 });
    });

    it('131047 (outside the 24 h window) is permanent and keeps the reason', async () => {
      graph().post(PATH).reply(400, { error: {
        message: '(#131047) Re-engagement message', type: 'OAuthException', code: 131047,
        error_data: { messaging_product: 'whatsapp', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
      } });
      const e = await sendError(adapter.send(envelope({ kind: 'text', text: 'hi' })));
      expect(e.code).to.equal('131047');
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('Re-engagement message').and.include('more than 24 hours');
    });

    it('a 503 without a Graph body is retryable; a network failure is retryable', async () => {
      graph().post(PATH).reply(503, 'Service Unavailable');
      expect(await sendError(adapter.send(envelope({ kind: 'text', text: 'hi' })))).to.include({ retryable: true, code: 'http_503' });
      graph().post(PATH).replyWithError('socket hang up');
      expect(await sendError(adapter.send(envelope({ kind: 'text', text: 'hi' })))).to.include({ retryable: true, code: 'network' });
    });

    it('190 (token expired) is permanent', async () => {
      graph().post(PATH).reply(401, { error: { message: 'Error validating access token', type: 'OAuthException', code: 190, error_subcode: 463 } });
      expect(await sendError(adapter.send(envelope({ kind: 'text', text: 'hi' })))).to.include({ retryable: false, code: '190' });
    });
  });
});
