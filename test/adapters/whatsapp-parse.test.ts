// WhatsApp inbound cases the courier fixtures do not cover.
import { expect } from 'chai';
import { parseWhatsAppWebhook } from '../../adapters/whatsapp-cloud/parse.js';

const PHONE_ID = '1234567890';

function payload(value: Record<string, unknown>, phoneNumberId = PHONE_ID) {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550001111', phone_number_id: phoneNumberId }, ...value } }] }],
  };
}
const contacts = [{ profile: { name: 'Ana' }, wa_id: '34600111222' }];
const msg = (m: Record<string, unknown>) => ({ from: '34600111222', id: 'wamid.1', timestamp: '1700000000', ...m });

describe('parseWhatsAppWebhook', () => {
  it('text with reply context: replyToExternalId, account, ms timestamp, contact name', () => {
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [msg({ type: 'text', text: { body: 'hi' }, context: { from: '15550001111', id: 'wamid.ours' } })] }));
    expect(b.messages).to.have.length(1);
    expect(b.messages[0]).to.deep.include({
      channel: 'whatsapp', account: PHONE_ID, externalId: 'wamid.1', from: '34600111222', contactName: 'Ana',
      timestamp: 1_700_000_000_000, kind: 'text', text: 'hi', replyToExternalId: 'wamid.ours',
    });
  });

  it('smb_message_echoes (coexistence): messages typed in the WhatsApp Business app become echo events, not customer messages', () => {
    const body = {
      object: 'whatsapp_business_account',
      entry: [{ id: 'WABA', changes: [{ field: 'smb_message_echoes', value: {
        messaging_product: 'whatsapp', metadata: { display_phone_number: '15550001111', phone_number_id: PHONE_ID },
        message_echoes: [{ from: '15550001111', to: '34600111222', id: 'wamid.app1', timestamp: '1700000100', type: 'text', text: { body: 'Sent from the app' } }],
      } }] }],
    };
    const b = parseWhatsAppWebhook(body, { phoneNumberId: PHONE_ID });
    expect(b.messages).to.be.empty;
    expect(b.events).to.deep.equal([{ type: 'echo', channel: 'whatsapp', account: PHONE_ID, to: '34600111222', externalId: 'wamid.app1', text: 'Sent from the app', timestamp: 1_700_000_100_000 }]);
  });

  it('ignores a change for another phone number when phoneNumberId is given', () => {
    const body = payload({ contacts, messages: [msg({ type: 'text', text: { body: 'hi' } })] }, '999');
    expect(parseWhatsAppWebhook(body).messages, 'without the option, accepted').to.have.length(1);
    const b = parseWhatsAppWebhook(body, { phoneNumberId: PHONE_ID });
    expect(b.messages).to.be.empty;
    expect(b.ignored.join()).to.include('phone_number_id 999 is not this account');
  });

  it('interactive button and list replies become choices with id and title', () => {
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [
      msg({ id: 'a', type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'faq', title: 'FAQ' } } }),
      msg({ id: 'b', type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'order', title: 'Order status', description: 'Where is my order' } } }),
    ] }));
    expect(b.messages[0]).to.deep.include({ kind: 'choice', text: 'FAQ', choice: { id: 'faq', title: 'FAQ', source: 'button' } });
    expect(b.messages[1]).to.deep.include({ kind: 'choice', text: 'Order status', choice: { id: 'order', title: 'Order status', source: 'list' } });
    expect(b.messages[1]!.extra).to.deep.equal({ description: 'Where is my order' });
  });

  it('template quick-reply button: source template_button with the payload as id', () => {
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [msg({ type: 'button', button: { payload: 'STOP', text: 'Stop promotions' } })] }));
    expect(b.messages[0]!.choice).to.deep.equal({ id: 'STOP', title: 'Stop promotions', source: 'template_button' });
  });

  it('sticker and voice-flagged audio keep media id, type and mime type; document keeps filename', () => {
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [
      msg({ id: 's', type: 'sticker', sticker: { id: 'st1', mime_type: 'image/webp', animated: false } }),
      msg({ id: 'v', type: 'audio', audio: { id: 'au1', mime_type: 'audio/ogg; codecs=opus', voice: true } }),
      msg({ id: 'd', type: 'document', document: { id: 'doc1', mime_type: 'application/pdf', filename: 'invoice.pdf' } }),
    ] }));
    expect(b.messages.map((m) => m.media)).to.deep.equal([
      [{ type: 'sticker', mediaId: 'st1', mimeType: 'image/webp' }],
      [{ type: 'voice', mediaId: 'au1', mimeType: 'audio/ogg; codecs=opus' }],
      [{ type: 'document', mediaId: 'doc1', mimeType: 'application/pdf', filename: 'invoice.pdf' }],
    ]);
    expect(b.messages.every((m) => m.kind === 'media' && m.text === '')).to.equal(true);
  });

  it('reaction: emoji as text, reacted message as replyToExternalId; a removed reaction is ignored', () => {
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [
      msg({ id: 'r1', type: 'reaction', reaction: { message_id: 'wamid.ours', emoji: '👍' } }),
      msg({ id: 'r2', type: 'reaction', reaction: { message_id: 'wamid.ours' } }),
    ] }));
    expect(b.messages).to.have.length(1);
    expect(b.messages[0]).to.deep.include({ kind: 'reaction', text: '👍', replyToExternalId: 'wamid.ours' });
    expect(b.ignored.join()).to.include('reaction removed: r2');
  });

  it('contacts: readable text and the cards kept in extra', () => {
    const cards = [{ name: { formatted_name: 'Bob Smith', first_name: 'Bob' }, phones: [{ phone: '+1 555 0100', type: 'CELL' }] }];
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [msg({ type: 'contacts', contacts: cards })] }));
    expect(b.messages[0]).to.deep.include({ kind: 'contacts', text: 'Bob Smith: +1 555 0100' });
    expect(b.messages[0]!.extra).to.deep.equal({ contacts: cards });
  });

  it('system message without a contacts block (number change)', () => {
    const b = parseWhatsAppWebhook(payload({ messages: [msg({ type: 'system', system: { body: 'User A changed from 34600111222 to 34600999888', wa_id: '34600999888', type: 'user_changed_number' } })] }));
    expect(b.rejected).to.be.empty;
    expect(b.messages[0]).to.deep.include({ kind: 'other', text: 'User A changed from 34600111222 to 34600999888' });
    expect(b.messages[0]!.contactName).to.equal(undefined);
    expect(b.messages[0]!.extra?.system).to.deep.include({ type: 'user_changed_number', newWaId: '34600999888' });
  });

  it('unknown message types are ignored with the type named', () => {
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [msg({ type: 'hologram' })] }));
    expect(b.messages).to.be.empty;
    expect(b.ignored.join()).to.include("unsupported message type 'hologram'");
  });

  it('BSUID: only from_user_id, contact name found by user_id; parent ids and malformed ids are not identities', () => {
    const b = parseWhatsAppWebhook(payload({
      contacts: [{ profile: { name: 'Kim' }, user_id: 'BR.1502576394655843' }],
      messages: [
        msg({ id: 'x', from: undefined, from_user_id: 'BR.1502576394655843', from_parent_user_id: 'BR.ENT.99', type: 'text', text: { body: 'oi' } }),
        msg({ id: 'y', from: undefined, from_user_id: 'BR.ENT.99', type: 'text', text: { body: 'oi' } }),
        msg({ id: 'z', from: '34600111222', from_user_id: 'br.lower', type: 'text', text: { body: 'oi' } }),
      ],
    }));
    expect(b.messages.map((m) => [m.externalId, m.from, m.altIds])).to.deep.equal([
      ['x', 'BR.1502576394655843', undefined],
      ['z', '34600111222', undefined],
    ]);
    expect(b.messages[0]!.contactName).to.equal('Kim');
    expect(b.rejected.join()).to.include("invalid sender id 'BR.ENT.99'");
  });

  it('one rejected message does not drop the valid ones beside it', () => {
    const b = parseWhatsAppWebhook(payload({ contacts, messages: [
      msg({ id: 'bad', timestamp: '-5', type: 'text', text: { body: 'x' } }),
      msg({ id: 'good', type: 'text', text: { body: 'y' } }),
    ] }));
    expect(b.messages.map((m) => m.externalId)).to.deep.equal(['good']);
    expect(b.rejected).to.have.length(1);
  });

  it('statuses: every known value, failed keeps its error, ms timestamps', () => {
    const b = parseWhatsAppWebhook(payload({ statuses: [
      { id: 'w1', status: 'sent', timestamp: '1700000001', recipient_id: '34600111222' },
      { id: 'w1', status: 'delivered', timestamp: '1700000002', recipient_id: '34600111222' },
      { id: 'w1', status: 'read', timestamp: '1700000003', recipient_id: '34600111222' },
      { id: 'w2', status: 'failed', timestamp: '1700000004', recipient_id: '34600111222',
        errors: [{ code: 131047, title: 'Re-engagement message', error_data: { details: 'more than 24 hours' } }] },
    ] }));
    expect(b.statuses.map((s) => [s.externalId, s.status, s.timestamp])).to.deep.equal([
      ['w1', 'sent', 1_700_000_001_000], ['w1', 'delivered', 1_700_000_002_000], ['w1', 'read', 1_700_000_003_000], ['w2', 'failed', 1_700_000_004_000],
    ]);
    expect(b.statuses[3]!.error).to.deep.equal({ code: '131047', message: 'Re-engagement message' });
    expect(b.statuses.slice(0, 3).every((s) => s.error === undefined)).to.equal(true);
  });

  it('rejects bodies that are not WhatsApp webhooks', () => {
    expect(parseWhatsAppWebhook(null).rejected).to.not.be.empty;
    expect(parseWhatsAppWebhook({ object: 'instagram', entry: [] }).rejected.join()).to.include("unexpected object type 'instagram'");
    expect(parseWhatsAppWebhook({ object: 'whatsapp_business_account', entry: [] }).rejected).to.deep.equal(['no entries']);
  });

  it('ignores fields other than messages', () => {
    const b = parseWhatsAppWebhook({ object: 'whatsapp_business_account', entry: [{ id: 'W', changes: [{ field: 'message_template_status_update', value: { event: 'APPROVED' } }] }] });
    expect(b.messages).to.be.empty;
    expect(b.ignored.join()).to.include("'message_template_status_update'");
  });
});
