// Ticket events: what changed, for the event stream (/api/events), the inbox and triggers.
// Collected during a transaction and published only after it commits.

export type TicketEventType =
  | 'ticket.created'
  | 'ticket.updated'
  | 'ticket.handoff'
  | 'ticket.assigned'
  | 'message.created'
  | 'message.updated'
  | 'comment.created'
  | 'comment.updated'
  | 'comment.deleted'
  | 'note.created'
  | 'note.updated'
  | 'note.deleted'
  | 'sla.breached';

export interface TicketEvent {
  type: TicketEventType;
  ticketId: string;
  at: number;
  data?: Record<string, unknown>;
  /** Events that reveal internal notes are only delivered to users with the notes permission. */
  private?: boolean;
}

export interface EventPublisher {
  publish(events: TicketEvent[]): void;
}

/** Side effects of one unit of work, released after its transaction commits. */
export class Effects {
  readonly events: TicketEvent[] = [];
  /** Outbox rows to dispatch now. */
  readonly outbox: string[] = [];
  /** Tickets whose bot should run a turn (handback with a flow, CSAT on resolve). */
  readonly botStarts: { ticketId: string; flow: string }[] = [];
  /** Pending tickets to offer to free agents. */
  readonly routing: string[] = [];

  event(type: TicketEventType, ticketId: string, at: number, data?: Record<string, unknown>, isPrivate = false): void {
    this.events.push({ type, ticketId, at, data, ...(isPrivate ? { private: true } : {}) });
  }
}
