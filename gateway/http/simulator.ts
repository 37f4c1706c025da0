// The simulator's HTTP side (off in production): a customer persona on any channel
// sends messages through the same durable pipeline as a real webhook, and reads the
// business's answers rendered as that channel shows them.

import express, { type Router } from 'express';
import { randomUUID } from 'node:crypto';
import { CHANNELS, type Channel, type InboundMessage } from '../../adapters/types.js';
import type { SimulatorHub } from '../../adapters/simulator/simulator.js';
import { SIMULATOR_ACCOUNT } from '../channels.js';
import type { Clock } from '../clock.js';
import type { InboundPipeline } from '../inbound.js';
import { badRequest } from '../../tickets/errors.js';

export function createSimulatorRoutes(hub: SimulatorHub, pipeline: InboundPipeline, clock: Clock, publish: (e: any) => Promise<void>): Router {
  const r = express.Router();

  const channelOf = (v: unknown): Channel => {
    if (!CHANNELS.includes(v as Channel)) throw badRequest(`channel must be one of ${CHANNELS.join(', ')}`);
    return v as Channel;
  };
  const personaOf = (v: unknown): string => {
    if (typeof v !== 'string' || !/^[\w.@+-]{1,64}$/.test(v)) throw badRequest('persona must be 1-64 letters, digits or . @ + - _');
    return v;
  };

  r.post('/messages', express.json({ limit: '64kb' }), async (req, res) => {
    const b = req.body ?? {};
    const channel = channelOf(b.channel);
    const persona = personaOf(b.persona);
    const text = typeof b.text === 'string' ? b.text.slice(0, 4096) : '';
    const choiceId = typeof b.choiceId === 'string' ? b.choiceId : undefined;
    if (!text.trim() && !choiceId) throw badRequest('text or choiceId is required');
    const now = clock.now();
    const msg: InboundMessage = {
      channel,
      account: SIMULATOR_ACCOUNT,
      externalId: `sim-in-${randomUUID()}`,
      from: persona,
      contactName: typeof b.name === 'string' ? b.name.slice(0, 100) : persona,
      timestamp: now,
      kind: choiceId ? 'choice' : 'text',
      text: text || (typeof b.choiceTitle === 'string' ? b.choiceTitle : choiceId!),
      ...(choiceId ? { choice: { id: choiceId, title: b.choiceTitle, source: channel === 'instagram' ? 'quick_reply' : 'button' } } : {}),
      ...(channel === 'email' ? { email: { subject: typeof b.subject === 'string' ? b.subject : 'Message from the simulator', messageId: `<${randomUUID()}@simulator>` } } : {}),
    } as InboundMessage;
    await pipeline.accept({ messages: [msg] });
    const entry = { id: msg.externalId, persona, channel, from: 'customer' as const, at: now, text: msg.text };
    await publish(entry);
    res.status(202).json(entry);
  });

  r.get('/transcript', (req, res) => {
    res.json(hub.transcript(channelOf(req.query.channel), personaOf(req.query.persona)));
  });

  r.get('/stream', (req, res) => {
    const channel = channelOf(req.query.channel);
    const persona = personaOf(req.query.persona);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': connected\n\n');
    const off = hub.listen((e) => {
      if (e.channel === channel && e.persona === persona) res.write(`data: ${JSON.stringify(e)}\n\n`);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 25_000);
    req.on('close', () => {
      clearInterval(ping);
      off();
    });
  });

  return r;
}
