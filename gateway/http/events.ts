// GET /api/events: server-sent events of ticket changes, fanned out from every
// process through the coordinator. Events about internal notes go only to users
// with the notes permission.

import express, { type Router } from 'express';
import { canReadNotes, userOf, type Authenticator } from '../../tickets/auth.js';
import type { TicketEvent } from '../../tickets/events.js';
import type { Coordinator } from '../coordination/types.js';

export const EVENTS_TOPIC = 'ticket-events';

export class EventHub {
  private readonly clients = new Set<(events: TicketEvent[]) => void>();
  private seq = 0;

  constructor(private readonly coord: Coordinator) {}

  async start(): Promise<() => Promise<void>> {
    return this.coord.subscribe(EVENTS_TOPIC, (msg) => {
      const events = JSON.parse(msg) as TicketEvent[];
      for (const c of this.clients) c(events);
    });
  }

  publish(events: TicketEvent[]): void {
    if (!events.length) return;
    void this.coord.publish(EVENTS_TOPIC, JSON.stringify(events)).catch(() => undefined);
  }

  router(auth: Authenticator): Router {
    const r = express.Router();
    r.get('/events', auth.middleware(), (req, res) => {
      const user = userOf(req);
      const notes = canReadNotes(user);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write(': connected\n\n');
      const send = (events: TicketEvent[]) => {
        for (const e of events) {
          if (e.private && !notes) continue;
          res.write(`id: ${Date.now()}-${++this.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        }
      };
      this.clients.add(send);
      const ping = setInterval(() => res.write(': ping\n\n'), 25_000);
      req.on('close', () => {
        clearInterval(ping);
        this.clients.delete(send);
      });
    });
    return r;
  }

  closeAll(): void {
    this.clients.clear();
  }
}
