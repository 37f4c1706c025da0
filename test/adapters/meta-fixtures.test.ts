// Table-driven: every webhook payload in ../shared/fixtures/meta (from nyaruka/courier)
// through our parsers, compared with expected.json. Skipped when the folder is absent.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import nock from 'nock';
import type { InboundMessage, WebhookBatch } from '../../adapters/types.js';
import { parseWhatsAppWebhook } from '../../adapters/whatsapp-cloud/parse.js';
import { parseInstagramWebhook } from '../../adapters/instagram/parse.js';
import { resolveWhatsAppMedia } from '../../adapters/whatsapp-cloud/media.js';
import { createGraphClient } from '../../adapters/meta/graph-client.js';
import { signMetaBody, verifyMetaSignature } from '../../adapters/meta/signature.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const metaDir = path.resolve(repoRoot, '../shared/fixtures/meta');

/** The ids the fixtures assume (fixtures README). */
const WHATSAPP_PHONE_NUMBER_ID = '1234567890';
const INSTAGRAM_ACCOUNT_ID = '1234567890';
const GRAPH = 'https://graph.fixtures.test';

interface ExpectedAttachment {
  type: string;
  url?: string;
  mediaId?: string;
  mimeType?: string;
  mockResolvedUrl?: string;
  latitude?: number;
  longitude?: number;
  name?: string;
  address?: string;
}
interface ExpectedMessage {
  externalId: string;
  from: string;
  text: string;
  contactName?: string;
  timestamp: string;
  attachments: ExpectedAttachment[];
  buttonPayload?: string;
  listReplyId?: string;
  flowResponse?: unknown;
  replyToExternalId?: string;
  userId?: string | null;
}
interface Expected {
  file: string;
  channel: 'whatsapp' | 'instagram';
  expect: {
    messages: ExpectedMessage[];
    statuses: { externalId: string; status: string }[];
    events: { type: string; from: string; timestamp: string; title?: string; payload?: string }[];
    ignored: boolean;
    ignoreReason?: string;
    error?: string;
    loggedErrors?: { code: string; message: string }[];
    duplicatesDropped?: number;
    unsentExternalId?: string;
    badSignatureRejected?: boolean;
  };
}

const isDuplicate = (reason: string) => reason.startsWith('duplicate message id');

function parse(c: Expected, body: unknown): WebhookBatch {
  return c.channel === 'whatsapp'
    ? parseWhatsAppWebhook(body, { phoneNumberId: WHATSAPP_PHONE_NUMBER_ID })
    : parseInstagramWebhook(body, { accountId: INSTAGRAM_ACCOUNT_ID });
}

async function checkAttachment(c: Expected, message: InboundMessage, want: ExpectedAttachment, index: number): Promise<void> {
  if (want.type === 'location') {
    expect(message.kind).to.equal('location');
    expect(message.location).to.deep.equal({
      latitude: want.latitude, longitude: want.longitude, name: want.name, address: want.address, url: want.url,
    });
    return;
  }
  const media = message.media?.[index];
  expect(media, `attachment ${index}`).to.exist;
  expect(media!.type).to.equal(want.type);
  if (c.channel === 'instagram') {
    expect(media!.url).to.equal(want.url);
    return;
  }
  expect(media!.mediaId).to.equal(want.mediaId);
  expect(media!.mimeType).to.equal(want.mimeType);
  // Courier resolves the id through GET /{media-id}; our resolver against our own mock.
  const scope = nock(GRAPH)
    .matchHeader('authorization', 'Bearer fixture-token')
    .get(`/v23.0/${want.mediaId}`)
    .reply(200, { url: want.mockResolvedUrl, mime_type: want.mimeType, id: want.mediaId });
  const graph = createGraphClient({ graphUrl: GRAPH, graphVersion: 'v23.0', accessToken: 'fixture-token' });
  const info = await resolveWhatsAppMedia(graph, want.mediaId!);
  expect(info.url).to.equal(want.mockResolvedUrl);
  scope.done();
}

async function checkMessage(c: Expected, got: InboundMessage, want: ExpectedMessage): Promise<void> {
  expect(got.channel).to.equal(c.channel);
  expect(got.account).to.equal(c.channel === 'whatsapp' ? WHATSAPP_PHONE_NUMBER_ID : INSTAGRAM_ACCOUNT_ID);
  expect(got.externalId).to.equal(want.externalId);
  expect(got.from).to.equal(want.from);
  expect(got.text).to.equal(want.text);
  if ('contactName' in want) expect(got.contactName).to.equal(want.contactName);
  expect(new Date(got.timestamp).toISOString()).to.equal(new Date(want.timestamp).toISOString());
  const mediaCount = want.attachments.filter((a) => a.type !== 'location').length;
  expect(got.media ?? [], 'media').to.have.length(mediaCount);
  if (!want.attachments.some((a) => a.type === 'location')) expect(got.location).to.equal(undefined);
  for (const [i, a] of want.attachments.entries()) await checkAttachment(c, got, a, i);
  if ('buttonPayload' in want) {
    expect(got.kind).to.equal('choice');
    expect(got.choice?.id).to.equal(want.buttonPayload);
    expect(got.choice?.source).to.be.oneOf(['button', 'template_button']);
    expect(got.choice?.title).to.equal(want.text);
  }
  if ('listReplyId' in want) {
    expect(got.choice).to.deep.equal({ id: want.listReplyId, title: want.text, source: 'list' });
  }
  if (!('buttonPayload' in want) && !('listReplyId' in want)) expect(got.choice).to.equal(undefined);
  if ('flowResponse' in want) expect(got.extra?.flowResponse).to.deep.equal(want.flowResponse);
  expect(got.replyToExternalId).to.equal(want.replyToExternalId);
  if ('userId' in want) expect(got.altIds?.[0] ?? null).to.equal(want.userId);
}

const expectedFile = path.join(metaDir, 'expected.json');
if (existsSync(expectedFile)) {
  const cases = JSON.parse(readFileSync(expectedFile, 'utf8')) as Expected[];

  describe('Meta webhook fixtures (courier testdata, ../shared/fixtures/meta)', () => {
    afterEach(() => nock.cleanAll());

    it('lists all 41 fixtures', () => {
      expect(cases).to.have.length(41);
    });

    for (const c of cases) {
      it(`${c.file}`, async () => {
        const raw = readFileSync(path.join(metaDir, c.file));
        const batch = parse(c, JSON.parse(raw.toString('utf8')));
        const e = c.expect;

        if (e.error) {
          expect(batch.rejected, 'rejected').to.not.be.empty;
          expect(batch.rejected.join(' | ')).to.include(e.error);
          expect(batch.messages).to.be.empty;
          expect(batch.statuses).to.be.empty;
          expect(batch.events).to.be.empty;
        } else {
          expect(batch.rejected, 'rejected').to.deep.equal([]);
        }

        expect(batch.messages, 'messages').to.have.length(e.messages.length);
        for (const [i, want] of e.messages.entries()) await checkMessage(c, batch.messages[i]!, want);

        expect(batch.statuses.map((s) => ({ externalId: s.externalId, status: s.status })), 'statuses').to.deep.equal(e.statuses);
        for (const s of batch.statuses) {
          expect(s.timestamp).to.equal(1454119029000);
          if (s.status === 'failed') expect(s.error).to.deep.equal(e.loggedErrors?.[0]);
        }

        // Courier's events (new_conversation); echo/unsent events are ours, checked below.
        const conversations = batch.events.filter((ev) => ev.type === 'new_conversation');
        expect(
          conversations.map((ev) => ev.type === 'new_conversation' && {
            type: ev.type, from: ev.from, timestamp: new Date(ev.timestamp).toISOString(), title: ev.title, payload: ev.payload,
          }),
          'events',
        ).to.deep.equal(e.events.map((ev) => ({ ...ev, timestamp: new Date(ev.timestamp).toISOString() })));

        const echoes = batch.events.filter((ev) => ev.type === 'echo');
        const unsent = batch.events.filter((ev) => ev.type === 'unsent');
        if (e.ignoreReason?.includes('is_echo')) {
          expect(echoes).to.have.length(1);
          expect(echoes[0]).to.include({ to: '5678', externalId: 'qT7ywaK', account: INSTAGRAM_ACCOUNT_ID });
        } else {
          expect(echoes).to.be.empty;
        }
        if (e.unsentExternalId) expect(unsent.map((ev) => ev.type === 'unsent' && ev.externalId)).to.deep.equal([e.unsentExternalId]);
        else expect(unsent).to.be.empty;

        const ignored = batch.ignored.filter((r) => !isDuplicate(r));
        if (e.ignored) {
          expect(ignored, 'ignored').to.not.be.empty;
          expect(ignored.join(' | ')).to.include(e.ignoreReason!);
          expect(batch.messages).to.be.empty;
          expect(batch.statuses).to.be.empty;
        } else {
          expect(ignored, 'ignored').to.deep.equal([]);
        }
        expect(batch.ignored.filter(isDuplicate)).to.have.length(e.duplicatesDropped ?? 0);
        expect(batch.errors, 'logged errors').to.deep.equal(e.loggedErrors ?? []);

        if (e.badSignatureRejected) {
          const secret = 'fixture-app-secret';
          expect(verifyMetaSignature(raw, signMetaBody(raw, secret), secret)).to.equal(true);
          expect(verifyMetaSignature(raw, signMetaBody(raw, 'another-secret'), secret)).to.equal(false);
          expect(verifyMetaSignature(raw, undefined, secret)).to.equal(false);
        }
      });
    }
  });
}
