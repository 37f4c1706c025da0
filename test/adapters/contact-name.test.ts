// Contact names are bounded at the adapters (contacts.name holds 255 characters; MySQL
// refused a longer one and the whole message failed — found by the fuzz test).

import { expect } from 'chai';
import { boundedName } from '../../adapters/contact-name.js';
import { parseWhatsAppWebhook } from '../../adapters/whatsapp-cloud/parse.js';
import { waTextBody } from '../helpers/gateway-harness.js';

describe('contact names', () => {
  it('are cut to 255 characters without splitting an emoji; blank names are dropped', () => {
    expect(boundedName('  Amina ')).to.equal('Amina');
    expect(boundedName('   ')).to.equal(undefined);
    expect(boundedName(undefined)).to.equal(undefined);
    const long = '🙂'.repeat(300);
    const cut = boundedName(long)!;
    expect(Array.from(cut)).to.have.length(255);
    expect(cut).to.equal('🙂'.repeat(255));
  });

  it('a WhatsApp profile name of 1000 characters arrives cut to 255', () => {
    const body = waTextBody({ from: '250700000001', id: 'wamid.X1', text: 'hi', name: 'N'.repeat(1000) });
    const batch = parseWhatsAppWebhook(body);
    expect(batch.messages[0]!.contactName).to.equal('N'.repeat(255));
  });
});
