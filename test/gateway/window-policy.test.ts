// SPEC §3.7 as one table: who may send what, how long after the customer's last message,
// on each channel, read from the adapters' declared capabilities; and the `window` the
// inbox composer shows, computed by the same rules.

import { expect } from 'chai';
import type { Capabilities, OutboundContent } from '../../adapters/types.js';
import { whatsAppCloudCapabilities } from '../../adapters/whatsapp-cloud/index.js';
import { instagramCapabilities } from '../../adapters/instagram/index.js';
import { whatsAppWebCapabilities } from '../../adapters/whatsapp-web/index.js';
import { EMAIL_CAPABILITIES } from '../../adapters/email/send.js';
import { decideWindow, windowInfo } from '../../gateway/outbound/window-policy.js';

const H = 3_600_000;
const D = 24 * H;
const NOW = Date.UTC(2026, 4, 10, 12, 0, 0);
const text: OutboundContent = { kind: 'text', text: 'hi' };
const template: OutboundContent = { kind: 'template', name: 'order_update', language: 'en', params: [] };

type Row = [string, Capabilities, number | null, 'bot' | 'agent', OutboundContent, string];
// [channel, capabilities, hours since the customer's last message (null: never wrote), author, content, expected]
const TABLE: Row[] = [
  ['whatsapp', whatsAppCloudCapabilities, 1, 'agent', text, 'allowed'],
  ['whatsapp', whatsAppCloudCapabilities, 23.9, 'bot', text, 'allowed'],
  ['whatsapp', whatsAppCloudCapabilities, 25, 'agent', text, 'template_required'],
  ['whatsapp', whatsAppCloudCapabilities, 25, 'bot', text, 'template_required'],
  ['whatsapp', whatsAppCloudCapabilities, 25, 'agent', template, 'allowed'],
  ['whatsapp', whatsAppCloudCapabilities, null, 'agent', text, 'template_required'],
  ['whatsapp', whatsAppCloudCapabilities, null, 'agent', template, 'allowed'],
  ['instagram', instagramCapabilities, 1, 'agent', text, 'allowed'],
  ['instagram', instagramCapabilities, 1, 'bot', text, 'allowed'],
  ['instagram', instagramCapabilities, 72, 'agent', text, 'allowed HUMAN_AGENT'],
  ['instagram', instagramCapabilities, 72, 'bot', text, 'window_closed'],
  ['instagram', instagramCapabilities, 8 * 24, 'agent', text, 'window_closed'],
  ['instagram', instagramCapabilities, 1, 'agent', template, 'window_closed'],
  ['instagram', instagramCapabilities, null, 'agent', text, 'window_closed'],
  ['whatsapp-web', whatsAppWebCapabilities, 30 * 24, 'bot', text, 'allowed'],
  ['email', EMAIL_CAPABILITIES, 365 * 24, 'agent', text, 'allowed'],
  ['email', EMAIL_CAPABILITIES, null, 'bot', text, 'allowed'],
];

describe('window policy (SPEC §3.7)', () => {
  for (const [channel, caps, hours, author, content, expected] of TABLE) {
    it(`${channel}: ${author} ${content.kind} ${hours === null ? 'before any customer message' : `${hours} h after the customer's last message`} -> ${expected}`, () => {
      const d = decideWindow(caps, hours === null ? null : NOW - hours * H, NOW, author, content);
      const got = d.allowed ? `allowed${d.tag ? ` ${d.tag}` : ''}` : d.code;
      expect(got).to.equal(expected);
    });
  }

  it('never tags bot messages HUMAN_AGENT, whatever the age', () => {
    for (let h = 0; h <= 8 * 24; h += 6) {
      const d = decideWindow(instagramCapabilities, NOW - h * H, NOW, 'bot', text);
      expect(d.allowed && d.tag).to.not.equal('HUMAN_AGENT');
    }
  });

  describe('windowInfo (the ticket detail`s `window`)', () => {
    it('WhatsApp: free-form until 24 h after the last message, then a template is required', () => {
      const last = NOW - 2 * H;
      expect(windowInfo(whatsAppCloudCapabilities, last, NOW)).to.deep.equal({
        freeFormUntil: new Date(last + D).toISOString(), humanAgentUntil: null, templateRequired: false, closed: false,
      });
      expect(windowInfo(whatsAppCloudCapabilities, NOW - 25 * H, NOW)).to.include({ templateRequired: true, closed: false });
      expect(windowInfo(whatsAppCloudCapabilities, null, NOW)).to.deep.equal({ freeFormUntil: null, humanAgentUntil: null, templateRequired: true, closed: false });
    });

    it('Instagram: HUMAN_AGENT until 7 days, closed after', () => {
      const last = NOW - 3 * D;
      expect(windowInfo(instagramCapabilities, last, NOW)).to.deep.equal({
        freeFormUntil: new Date(last + D).toISOString(), humanAgentUntil: new Date(last + 7 * D).toISOString(), templateRequired: false, closed: false,
      });
      expect(windowInfo(instagramCapabilities, NOW - 8 * D, NOW)).to.include({ closed: true, templateRequired: false });
    });

    it('email and whatsapp-web: always open', () => {
      for (const caps of [EMAIL_CAPABILITIES, whatsAppWebCapabilities]) {
        expect(windowInfo(caps, NOW - 100 * D, NOW)).to.deep.equal({ freeFormUntil: null, humanAgentUntil: null, templateRequired: false, closed: false });
      }
    });
  });
});
