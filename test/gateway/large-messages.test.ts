import { expect } from 'chai';
import type { InboundMessage } from '../../adapters/types.js';
import { SIMULATOR_ACCOUNT } from '../../gateway/channels.js';
import { MAX_PAYLOAD_BYTES } from '../../gateway/inbound.js';
import { KEY_CHARS } from '../../gateway/db/tables.js';
import { backends, rand, startGateway, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

// Long emails: the visible text is stored whole up to the payload limit (well past the
// 64 KB a MySQL TEXT column held before migration 0006), and cut, flagged, above it.
for (const backend of backends()) {
  describe(`large inbound messages (${backend})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    before(async () => {
      t = await startGateway({ backend });
    });
    after(async () => t?.stop());

    const mail = (text: string): InboundMessage => ({
      channel: 'email', account: SIMULATOR_ACCOUNT, externalId: `<${rand()}@example.com>`, from: `long.${rand()}@example.com`,
      contactName: 'Long Writer', timestamp: Date.now(), kind: 'text', text,
      email: { subject: 'A long story', messageId: `<${rand()}@example.com>` },
    }) as InboundMessage;

    const storedText = async (m: InboundMessage) => {
      await t.gw.pipeline.accept({ messages: [m] });
      const row = await waitFor(async () => (await t.query('SELECT text, payload FROM messages WHERE externalId = ?', [m.externalId]))[0], 10_000, 'the stored message');
      return { text: String(row.text), payload: JSON.parse(String(row.payload)) };
    };

    it('keeps a 300 KB multi-byte body whole', async () => {
      const body = 'Grüße, ünïcödé ✓ '.repeat(18_000); // ~300 KB in UTF-8
      const { text, payload } = await storedText(mail(body));
      expect(text).to.equal(body);
      expect(payload.truncated).to.equal(undefined);
    });

    it('cuts a body beyond the payload limit and says so', async () => {
      const body = 'x'.repeat(MAX_PAYLOAD_BYTES + 10_000);
      const { text, payload } = await storedText(mail(body));
      expect(payload.truncated).to.equal(true);
      expect(text.length).to.be.greaterThan(MAX_PAYLOAD_BYTES / 4).and.lessThan(body.length);
    });

    it('refuses a message id longer than its column instead of cutting it (two ids sharing a prefix would collide)', async () => {
      const prefix = `<${'a'.repeat(KEY_CHARS)}`;
      const first = { ...mail('first'), externalId: `${prefix}.1@example.com>` };
      const second = { ...mail('second'), externalId: `${prefix}.2@example.com>` };
      const fits = mail('fits');
      const r = await t.gw.pipeline.accept({ messages: [first, second, fits] });
      expect(r).to.deep.equal({ accepted: 1, duplicates: 0 });
      await waitFor(async () => (await t.query('SELECT id FROM messages WHERE externalId = ?', [fits.externalId]))[0], 10_000, 'the message that fits');
      const long = await t.query('SELECT COUNT(*) AS n FROM inbound WHERE externalId LIKE ?', [`${prefix.slice(0, 50)}%`]);
      expect(Number(long[0].n)).to.equal(0);
    });
  });
}
