// Instagram inbound cases beyond the courier fixtures: comments, quick replies, story replies...
import { expect } from 'chai';
import { parseInstagramWebhook } from '../../adapters/instagram/parse.js';

const ACCOUNT = '17841400000000001';
const USER = '6543210987654321';
const T = 1_700_000_000_123;

const dm = (item: Record<string, unknown>, entryId = ACCOUNT) => ({
  object: 'instagram',
  entry: [{ id: entryId, time: T, messaging: [{ sender: { id: USER }, recipient: { id: ACCOUNT }, timestamp: T, ...item }] }],
});

describe('parseInstagramWebhook', () => {
  it('text DM: account, sender, ms timestamp', () => {
    const b = parseInstagramWebhook(dm({ message: { mid: 'm1', text: 'hola' } }), { accountId: ACCOUNT });
    expect(b.messages).to.deep.equal([{ channel: 'instagram', account: ACCOUNT, from: USER, timestamp: T, externalId: 'm1', kind: 'text', text: 'hola' }]);
  });

  it('quick-reply tap: a choice with the payload as id', () => {
    const b = parseInstagramWebhook(dm({ message: { mid: 'm2', text: 'Order status', quick_reply: { payload: 'order' } } }));
    expect(b.messages[0]).to.deep.include({ kind: 'choice', text: 'Order status', choice: { id: 'order', title: 'Order status', source: 'quick_reply' } });
  });

  it('attachments: media by url; shares kept as files; story reply and reply_to kept', () => {
    const b = parseInstagramWebhook(dm({ message: {
      mid: 'm3', text: 'look',
      attachments: [
        { type: 'video', payload: { url: 'https://cdn/v.mp4' } },
        { type: 'audio', payload: { url: 'https://cdn/a.mp4' } },
        { type: 'ig_reel', payload: { url: 'https://cdn/reel', title: 'reel' } },
      ],
      reply_to: { story: { id: 'story1', url: 'https://cdn/story' } },
    } }));
    const m = b.messages[0]!;
    expect(m.kind).to.equal('media');
    expect(m.media).to.deep.equal([
      { type: 'video', url: 'https://cdn/v.mp4' }, { type: 'audio', url: 'https://cdn/a.mp4' }, { type: 'file', url: 'https://cdn/reel' },
    ]);
    expect(m.extra).to.deep.include({ storyReply: { id: 'story1', url: 'https://cdn/story' }, sharedTypes: ['ig_reel'] });
    const reply = parseInstagramWebhook(dm({ message: { mid: 'm4', text: 'this one', reply_to: { mid: 'm0' } } }));
    expect(reply.messages[0]!.replyToExternalId).to.equal('m0');
  });

  it('a story mention with text keeps the text and notes the mention', () => {
    const b = parseInstagramWebhook(dm({ message: { mid: 'm5', text: 'tagged you', attachments: [{ type: 'story_mention', payload: { url: 'https://s' } }] } }));
    expect(b.messages[0]).to.deep.include({ kind: 'text', text: 'tagged you' });
    expect(b.messages[0]!.extra).to.deep.equal({ storyMention: { url: 'https://s' } });
  });

  it('reaction to our message: kind reaction with a stable id; unreact ignored', () => {
    const react = dm({ reaction: { mid: 'ours1', action: 'react', reaction: 'love', emoji: '\u2764' } });
    const a = parseInstagramWebhook(react);
    const again = parseInstagramWebhook(react);
    expect(a.messages[0]).to.deep.include({ kind: 'reaction', text: '\u2764', replyToExternalId: 'ours1' });
    expect(a.messages[0]!.externalId, 'same webhook retried -> same dedupe key').to.equal(again.messages[0]!.externalId);
    const un = parseInstagramWebhook(dm({ reaction: { mid: 'ours1', action: 'unreact' } }));
    expect(un.messages).to.be.empty;
    expect(un.ignored.join()).to.include('reaction removed');
  });

  it('postback with a mid: a new_conversation event and a postback choice message', () => {
    const b = parseInstagramWebhook(dm({ postback: { mid: 'pb1', title: 'Talk to an agent', payload: 'agent' } }));
    expect(b.events).to.deep.equal([{ type: 'new_conversation', channel: 'instagram', account: ACCOUNT, from: USER, timestamp: T, title: 'Talk to an agent', payload: 'agent' }]);
    expect(b.messages[0]).to.deep.include({ externalId: 'pb1', kind: 'choice', text: 'Talk to an agent', choice: { id: 'agent', title: 'Talk to an agent', source: 'postback' } });
  });

  it('real echo shape (sender = our account): echo event addressed to the customer, no message', () => {
    const body = {
      object: 'instagram',
      entry: [{ id: ACCOUNT, time: T, messaging: [{ sender: { id: ACCOUNT }, recipient: { id: USER }, timestamp: T, message: { mid: 'e1', text: 'sent from the app', is_echo: true } }] }],
    };
    const b = parseInstagramWebhook(body, { accountId: ACCOUNT });
    expect(b.messages).to.be.empty;
    expect(b.events).to.deep.equal([{ type: 'echo', channel: 'instagram', account: ACCOUNT, to: USER, externalId: 'e1', text: 'sent from the app', timestamp: T }]);
  });

  it('read and delivery receipts become statuses of our messages', () => {
    const read = parseInstagramWebhook(dm({ read: { mid: 'ours2' } }));
    expect(read.statuses).to.deep.equal([{ channel: 'instagram', account: ACCOUNT, externalId: 'ours2', status: 'read', timestamp: T }]);
    const delivered = parseInstagramWebhook(dm({ delivery: { mids: ['a', 'b'], watermark: T } }));
    expect(delivered.statuses.map((s) => [s.externalId, s.status])).to.deep.equal([['a', 'delivered'], ['b', 'delivered']]);
  });

  it('entries of another account are ignored when accountId is given', () => {
    const b = parseInstagramWebhook(dm({ message: { mid: 'm6', text: 'x' } }, '999'), { accountId: ACCOUNT });
    expect(b.messages).to.be.empty;
    expect(b.ignored.join()).to.include('entry id 999 is not this account');
  });

  it('rejects a bad timestamp', () => {
    const b = parseInstagramWebhook(dm({ timestamp: 'yesterday', message: { mid: 'm7', text: 'x' } }));
    expect(b.messages).to.be.empty;
    expect(b.rejected.join()).to.include("invalid timestamp 'yesterday'");
  });

  describe('comments', () => {
    const value = {
      id: '17900000000000001',
      from: { id: USER, username: 'ana.shop' },
      text: 'How much is this?',
      media: { id: '18000000000000009', media_product_type: 'FEED' },
    };

    it('Instagram Login shape (field/value on the entry): an InboundMessage threaded on the commenter', () => {
      const body = { object: 'instagram', entry: [{ id: ACCOUNT, time: 1_700_000_000, field: 'comments', value }] };
      const b = parseInstagramWebhook(body, { accountId: ACCOUNT });
      expect(b.rejected).to.be.empty;
      expect(b.messages).to.have.length(1);
      const m = b.messages[0]!;
      expect(m).to.deep.include({
        channel: 'instagram', account: ACCOUNT, externalId: 'comment:17900000000000001', from: USER,
        contactName: 'ana.shop', timestamp: 1_700_000_000_000, kind: 'text', text: 'How much is this?',
      });
      expect(m.extra).to.deep.include({ commentId: '17900000000000001', mediaId: '18000000000000009', replyTo: 'comment:17900000000000001', live: false });
    });

    it('Facebook Login shape (changes[]), seconds or ms entry time, parent comment kept', () => {
      const body = { object: 'instagram', entry: [{ id: ACCOUNT, time: T, changes: [{ field: 'comments', value: { ...value, parent_id: '17900000000000000' } }] }] };
      const b = parseInstagramWebhook(body, { accountId: ACCOUNT });
      expect(b.messages[0]!.timestamp).to.equal(T);
      expect(b.messages[0]!.extra).to.deep.include({ commentId: value.id, mediaId: value.media.id, parentCommentId: '17900000000000000' });
    });

    it('our own comments (from = the account) are ignored', () => {
      const body = { object: 'instagram', entry: [{ id: ACCOUNT, time: T, changes: [{ field: 'comments', value: { ...value, from: { id: ACCOUNT, username: 'us' } } }] }] };
      const b = parseInstagramWebhook(body, { accountId: ACCOUNT });
      expect(b.messages).to.be.empty;
      expect(b.ignored.join()).to.include('comment by our own account');
    });

    it('the same comment twice in one payload is kept once', () => {
      const body = { object: 'instagram', entry: [{ id: ACCOUNT, time: T, changes: [{ field: 'comments', value }, { field: 'comments', value }] }] };
      const b = parseInstagramWebhook(body);
      expect(b.messages).to.have.length(1);
    });

    it('other change fields (mentions...) are ignored', () => {
      const body = { object: 'instagram', entry: [{ id: ACCOUNT, time: T, changes: [{ field: 'mentions', value: { media_id: '1' } }] }] };
      const b = parseInstagramWebhook(body);
      expect(b.messages).to.be.empty;
      expect(b.ignored.join()).to.include("'mentions'");
    });
  });
});
