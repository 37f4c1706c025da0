// The simulator transport: a newcomer chats as a customer of any channel in the
// browser, without platform accounts. Outbound messages are rendered exactly as the
// channel would show them (buttons, list, quick replies, numbered text) and fanned
// out to every gateway process through the injected publish function.

import { randomUUID } from 'node:crypto';
import { renderChoice, type RenderedChoice } from '../render.js';
import type { Capabilities, Channel, ChannelAdapter, OutboundEnvelope, SendResult } from '../types.js';

export interface SimulatorEntry {
  id: string;
  persona: string;
  channel: Channel;
  from: 'customer' | 'business';
  author?: OutboundEnvelope['author'];
  at: number;
  text: string;
  /** How the channel shows it (choices as buttons / list / quick replies / numbered text). */
  rendered?: RenderedChoice;
  template?: { name: string };
  tag?: string;
}

/** Keeps recent transcripts per persona (bounded) and notifies listeners. */
export class SimulatorHub {
  private readonly transcripts = new Map<string, SimulatorEntry[]>();
  private readonly listeners = new Set<(e: SimulatorEntry) => void>();

  constructor(private readonly maxPerPersona = 200, private readonly maxPersonas = 1000) {}

  record(e: SimulatorEntry): void {
    const key = `${e.channel}|${e.persona}`;
    let list = this.transcripts.get(key);
    if (!list) {
      if (this.transcripts.size >= this.maxPersonas) this.transcripts.delete(this.transcripts.keys().next().value!);
      list = [];
      this.transcripts.set(key, list);
    }
    if (list.some((x) => x.id === e.id)) return;
    list.push(e);
    if (list.length > this.maxPerPersona) list.shift();
    for (const l of this.listeners) l(e);
  }

  transcript(channel: Channel, persona: string): SimulatorEntry[] {
    return this.transcripts.get(`${channel}|${persona}`) ?? [];
  }

  listen(fn: (e: SimulatorEntry) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

export class SimulatorAdapter implements ChannelAdapter {
  constructor(
    readonly channel: Channel,
    readonly capabilities: Capabilities,
    private readonly publish: (e: SimulatorEntry) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  async send(env: OutboundEnvelope): Promise<SendResult> {
    const c = env.content;
    const entry: SimulatorEntry = {
      id: `sim-out-${randomUUID()}`,
      persona: env.to,
      channel: this.channel,
      from: 'business',
      author: env.author,
      at: this.now(),
      text: c.kind === 'media' ? (c.text ?? `[${c.media.type}]`) : c.kind === 'template' ? (c.body ?? c.name) : c.text,
      ...(c.kind === 'choice' ? { rendered: renderChoice(this.capabilities, c) } : {}),
      ...(c.kind === 'template' ? { template: { name: c.name }, text: (c.body ?? c.name).replace(/\{\{(\d+)\}\}/g, (_, n) => c.params[Number(n) - 1] ?? '') } : {}),
      ...(env.tag ? { tag: env.tag } : {}),
    };
    await this.publish(entry);
    return { externalId: entry.id };
  }
}
