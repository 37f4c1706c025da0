// The Instagram sender: exact request bodies, HUMAN_AGENT tagging, private replies, errors.
import { expect } from 'chai';
import nock from 'nock';
import { SendError, type OutboundContent, type OutboundEnvelope } from '../../adapters/types.js';
import { createInstagramAdapter } from '../../adapters/instagram/adapter.js';
import { commentTarget, parseInstagramTarget } from '../../adapters/instagram/targets.js';

const GRAPH = 'https://graph.ig.test';
const ACCOUNT = '17841400000000001';
const IGSID = '6543210987654321';
const PATH = `/v23.0/${ACCOUNT}/messages`;

const adapter = createInstagramAdapter({ graphUrl: GRAPH, graphVersion: 'v23.0', accessToken: 'ig-token', accountId: ACCOUNT });
const envelope = (content: OutboundContent, extra: Partial<OutboundEnvelope> = {}): OutboundEnvelope =>
  ({ messageId: 'our-1', channel: 'instagram', account: ACCOUNT, to: IGSID, content, author: 'bot', ...extra });
const graph = () => nock(GRAPH, { reqheaders: { authorization: 'Bearer ig-token' } });
const ok = (id: string) => ({ recipient_id: IGSID, message_id: id });

async function sendError(promise: Promise<unknown>): Promise<SendError> {
  try {
    await promise;
  } catch (e) {
    expect(e).to.be.instanceOf(SendError);
    return e as SendError;
  }
  throw new Error('expected a SendError');
}

describe('Instagram sender', () => {
  before(() => nock.disableNetConnect());
  after(() => nock.enableNetConnect());
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending, 'every expected request was made').to.deep.equal([]);
  });

  it('text: recipient id and message text, the message_id back', async () => {
    graph().post(PATH, { recipient: { id: IGSID }, message: { text: 'Hi there' } }).reply(200, ok('mid.1'));
    expect(await adapter.send(envelope({ kind: 'text', text: 'Hi there' }))).to.deep.equal({ externalId: 'mid.1' });
  });

  it('text over 1000 bytes is split into several messages', async () => {
    const text = `${'a'.repeat(900)} ${'b'.repeat(900)}`;
    graph().post(PATH, { recipient: { id: IGSID }, message: { text: 'a'.repeat(900) } }).reply(200, ok('mid.p1'));
    graph().post(PATH, { recipient: { id: IGSID }, message: { text: 'b'.repeat(900) } }).reply(200, ok('mid.p2'));
    expect((await adapter.send(envelope({ kind: 'text', text }))).externalId).to.equal('mid.p2');
  });

  it('choice: quick replies (content_type text, title, payload)', async () => {
    graph().post(PATH, {
      recipient: { id: IGSID },
      message: {
        text: 'How can we help?',
        quick_replies: [
          { content_type: 'text', title: 'FAQ', payload: 'faq' },
          { content_type: 'text', title: 'Order status', payload: 'order' },
          { content_type: 'text', title: 'Talk to an agent', payload: 'agent' },
        ],
      },
    }).reply(200, ok('mid.qr'));
    const result = await adapter.send(envelope({ kind: 'choice', text: 'How can we help?', options: [
      { id: 'faq', title: 'FAQ' }, { id: 'order', title: 'Order status' }, { id: 'agent', title: 'Talk to an agent' },
    ] }));
    expect(result.externalId).to.equal('mid.qr');
  });

  it('choice with more than 13 options: numbered text', async () => {
    const options = Array.from({ length: 14 }, (_, i) => ({ id: `o${i}`, title: `Item ${i + 1}` }));
    graph().post(PATH, (b) => b.message.text.startsWith('Pick\n\n1. Item 1\n') && b.message.text.endsWith('14. Item 14') && !b.message.quick_replies)
      .reply(200, ok('mid.num'));
    await adapter.send(envelope({ kind: 'choice', text: 'Pick', options }));
  });

  it('agent message with tag HUMAN_AGENT: messaging_type MESSAGE_TAG, tag HUMAN_AGENT', async () => {
    graph().post(PATH, {
      recipient: { id: IGSID },
      messaging_type: 'MESSAGE_TAG',
      tag: 'HUMAN_AGENT',
      message: { text: 'Sorry for the wait, here is your refund.' },
    }).reply(200, ok('mid.agent'));
    const result = await adapter.send(envelope({ kind: 'text', text: 'Sorry for the wait, here is your refund.' }, { author: 'agent', tag: 'HUMAN_AGENT' }));
    expect(result.externalId).to.equal('mid.agent');
  });

  it('no tag unless asked for, and never on bot messages', async () => {
    graph().post(PATH, { recipient: { id: IGSID }, message: { text: 'agent, in window' } }).reply(200, ok('mid.a'));
    graph().post(PATH, { recipient: { id: IGSID }, message: { text: 'bot' } }).reply(200, ok('mid.b'));
    await adapter.send(envelope({ kind: 'text', text: 'agent, in window' }, { author: 'agent' }));
    await adapter.send(envelope({ kind: 'text', text: 'bot' }, { author: 'bot', tag: 'HUMAN_AGENT' }));
  });

  it('private reply to a comment: recipient comment_id (to = "comment:<id>")', async () => {
    expect(commentTarget('17900000000000001')).to.equal('comment:17900000000000001');
    expect(parseInstagramTarget('comment:17900000000000001')).to.deep.equal({ kind: 'comment', commentId: '17900000000000001' });
    expect(parseInstagramTarget(IGSID)).to.deep.equal({ kind: 'user', id: IGSID });
    graph().post(PATH, { recipient: { comment_id: '17900000000000001' }, message: { text: 'Thanks! We sent you the price in DMs.' } })
      .reply(200, { recipient_id: IGSID, message_id: 'mid.private' });
    const result = await adapter.send(envelope({ kind: 'text', text: 'Thanks! We sent you the price in DMs.' }, { to: 'comment:17900000000000001' }));
    expect(result.externalId).to.equal('mid.private');
  });

  it('a private reply must fit in one message (only one is allowed per comment)', async () => {
    const e = await sendError(adapter.send(envelope({ kind: 'text', text: 'x '.repeat(800) }, { to: 'comment:1' })));
    expect(e).to.include({ code: 'text_too_long', retryable: false });
  });

  it('attachment by url; the text follows as a message', async () => {
    graph().post(PATH, { recipient: { id: IGSID }, message: { attachment: { type: 'image', payload: { url: 'https://cdn.example.com/p.jpg' } } } }).reply(200, ok('mid.img'));
    graph().post(PATH, { recipient: { id: IGSID }, message: { text: 'Here it is' } }).reply(200, ok('mid.txt'));
    await adapter.send(envelope({ kind: 'media', media: { type: 'image', url: 'https://cdn.example.com/p.jpg' }, text: 'Here it is' }));
    graph().post(PATH, { recipient: { id: IGSID }, message: { attachment: { type: 'file', payload: { url: 'https://cdn.example.com/a.pdf' } } } }).reply(200, ok('mid.pdf'));
    expect((await adapter.send(envelope({ kind: 'media', media: { type: 'document', url: 'https://cdn.example.com/a.pdf' } }))).externalId).to.equal('mid.pdf');
  });

  it('templates are refused: Instagram has none', async () => {
    const e = await sendError(adapter.send(envelope({ kind: 'template', name: 'x', language: 'en', params: [] })));
    expect(e).to.include({ code: 'templates_unsupported', retryable: false });
  });

  it('sends from senderNodeId when given (Facebook Login: the Page)', async () => {
    const viaPage = createInstagramAdapter({ graphUrl: GRAPH, graphVersion: 'v23.0', accessToken: 'ig-token', accountId: ACCOUNT, senderNodeId: '1122334455' });
    graph().post('/v23.0/1122334455/messages', { recipient: { id: IGSID }, message: { text: 'hi' } }).reply(200, ok('mid.page'));
    expect((await viaPage.send(envelope({ kind: 'text', text: 'hi' }))).externalId).to.equal('mid.page');
  });

  describe('errors', () => {
    it('code 10 / subcode 2534022 (outside the allowed window) is window_closed, permanent', async () => {
      graph().post(PATH).reply(400, { error: { message: 'This message is sent outside of allowed window.', type: 'OAuthException', code: 10, error_subcode: 2534022 } });
      const e = await sendError(adapter.send(envelope({ kind: 'text', text: 'late' }, { author: 'agent', tag: 'HUMAN_AGENT' })));
      expect(e).to.include({ code: 'window_closed', retryable: false });
    });

    it('code 4 (application rate limit) is retryable', async () => {
      graph().post(PATH).reply(400, { error: { message: '(#4) Application request limit reached', type: 'OAuthException', code: 4 } });
      expect(await sendError(adapter.send(envelope({ kind: 'text', text: 'hi' })))).to.include({ code: '4', retryable: true });
    });
  });
});
