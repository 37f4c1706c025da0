import { expect } from 'chai';
import type { Capabilities, ChoiceOption } from '../../adapters/types.js';
import { numberedText, renderChoice, splitText, truncate } from '../../adapters/render.js';
import { whatsAppCloudCapabilities } from '../../adapters/whatsapp-cloud/capabilities.js';
import { instagramCapabilities } from '../../adapters/instagram/capabilities.js';

const options = (n: number, title = (i: number) => `Option ${i}`): ChoiceOption[] =>
  Array.from({ length: n }, (_, i) => ({ id: `o${i + 1}`, title: title(i + 1) }));

const email: Capabilities = {
  maxTextLength: 100_000, buttons: { max: 0, titleMax: 0 }, list: { max: 0, titleMax: 0 }, quickReplies: { max: 0, titleMax: 0 },
  templates: false, windowMs: null, humanAgentWindowMs: null,
};

describe('capabilities', () => {
  it('WhatsApp and Instagram declare the platform limits', () => {
    expect(whatsAppCloudCapabilities).to.deep.equal({
      maxTextLength: 4096, buttons: { max: 3, titleMax: 20 }, list: { max: 10, titleMax: 24 }, quickReplies: { max: 0, titleMax: 0 },
      templates: true, windowMs: 86_400_000, humanAgentWindowMs: null,
    });
    expect(instagramCapabilities).to.deep.equal({
      maxTextLength: 1000, buttons: { max: 0, titleMax: 0 }, list: { max: 0, titleMax: 0 }, quickReplies: { max: 13, titleMax: 20 },
      templates: false, windowMs: 86_400_000, humanAgentWindowMs: 7 * 86_400_000,
    });
  });
});

describe('renderChoice', () => {
  it('WhatsApp, up to 3 short options: reply buttons', () => {
    const r = renderChoice(whatsAppCloudCapabilities, { text: 'Menu', options: options(3) });
    expect(r).to.deep.equal({ kind: 'buttons', text: 'Menu', buttons: [{ id: 'o1', title: 'Option 1' }, { id: 'o2', title: 'Option 2' }, { id: 'o3', title: 'Option 3' }] });
  });

  it('WhatsApp, 4 to 10 options: a list, titles cut to 24, the full title kept as description', () => {
    const long = 'A very long option title that goes on';
    const r = renderChoice(whatsAppCloudCapabilities, { text: 'Pick', options: [...options(4), { id: 'x', title: long }, { id: 'y', title: 'Short', description: 'An explanation longer than twenty-four characters' }] });
    expect(r.kind).to.equal('list');
    if (r.kind !== 'list') return;
    expect(r.rows).to.have.length(6);
    expect(r.rows[4]).to.deep.equal({ id: 'x', title: 'A very long option titl…', description: long });
    expect(Array.from(r.rows[4]!.title)).to.have.length(24);
    expect(r.rows[5]).to.deep.equal({ id: 'y', title: 'Short', description: 'An explanation longer than twenty-four characters' });
    expect(r.rows[0]).to.deep.equal({ id: 'o1', title: 'Option 1' });
  });

  it('WhatsApp, 3 options with a title over 20: a list rather than cut buttons', () => {
    const r = renderChoice(whatsAppCloudCapabilities, { text: 'Pick', options: options(3, (i) => `Twenty-one characters${i}`) });
    expect(r.kind).to.equal('list');
  });

  it('buttons cut titles to titleMax when no list exists', () => {
    const caps = { ...whatsAppCloudCapabilities, list: { max: 0, titleMax: 0 } };
    const r = renderChoice(caps, { text: 'Pick', options: [{ id: 'a', title: 'Twenty-one characters!' }] });
    expect(r).to.deep.equal({ kind: 'buttons', text: 'Pick', buttons: [{ id: 'a', title: 'Twenty-one characte…' }] });
  });

  it('WhatsApp, more than 10 options: numbered text', () => {
    const r = renderChoice(whatsAppCloudCapabilities, { text: 'Pick', options: options(11) });
    expect(r.kind).to.equal('text');
    expect(r.text.split('\n')).to.deep.equal(['Pick', '', ...Array.from({ length: 11 }, (_, i) => `${i + 1}. Option ${i + 1}`)]);
  });

  it('Instagram: quick replies up to 13, titles cut to 20; beyond 13 numbered text', () => {
    const r = renderChoice(instagramCapabilities, { text: 'Pick', options: [...options(12), { id: 'long', title: 'A title of more than twenty' }] });
    expect(r.kind).to.equal('quick_replies');
    if (r.kind === 'quick_replies') expect(r.quickReplies[12]).to.deep.equal({ id: 'long', title: 'A title of more tha…' });
    expect(renderChoice(instagramCapabilities, { text: 'Pick', options: options(14) }).kind).to.equal('text');
  });

  it('email: numbered text with the full titles', () => {
    const r = renderChoice(email, { text: 'How can we help?', options: [{ id: 'faq', title: 'Frequently asked questions' }, { id: 'agent', title: 'Talk to an agent' }] });
    expect(r).to.deep.equal({ kind: 'text', text: 'How can we help?\n\n1. Frequently asked questions\n2. Talk to an agent' });
  });

  it('numbered text without a prompt has no leading blank lines', () => {
    expect(numberedText('', options(2))).to.equal('1. Option 1\n2. Option 2');
  });
});

describe('truncate', () => {
  it('never splits a surrogate pair and marks the cut', () => {
    expect(truncate('🚀🚀🚀🚀', 3)).to.equal('🚀🚀…');
    expect(truncate('short', 20)).to.equal('short');
  });
});

describe('splitText', () => {
  it('returns short text unchanged, and empty text as one empty part', () => {
    expect(splitText('hello', 10)).to.deep.equal(['hello']);
    expect(splitText('', 10)).to.deep.equal(['']);
  });

  it('splits at paragraph, then line, then word boundaries; every part within max', () => {
    const text = 'First paragraph here.\n\nSecond paragraph is a bit longer than the first.';
    const parts = splitText(text, 40);
    expect(parts[0]).to.equal('First paragraph here.');
    expect(parts.every((p) => p.length <= 40)).to.equal(true);
    expect(parts.join(' ').replace(/\s+/g, ' ')).to.equal(text.replace(/\s+/g, ' '));
  });

  it('hard-cuts a word longer than max, and never breaks an emoji', () => {
    const parts = splitText('x'.repeat(25), 10);
    expect(parts).to.deep.equal(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
    const emoji = splitText('😀'.repeat(5), 2);
    expect(emoji).to.deep.equal(['😀😀', '😀😀', '😀']);
  });

  it('Instagram: 2,500 characters split into parts under 1000, measured in UTF-8 bytes when asked', () => {
    const words = Array.from({ length: 500 }, (_, i) => `w${i % 10}xy`).join(' ');
    const parts = splitText(words, 1000);
    expect(parts.length).to.equal(3);
    expect(parts.every((p) => p.length <= 1000)).to.equal(true);
    expect(parts.join(' ')).to.equal(words);
    const accented = 'é'.repeat(700); // 1400 bytes
    const byBytes = splitText(accented, 1000, 'utf8');
    expect(byBytes.map((p) => Buffer.byteLength(p))).to.deep.equal([1000, 400]);
  });
});
