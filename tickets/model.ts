// Ticket vocabulary (SPEC §2, §3.1) and the rows as stored.

import type { Channel, TicketChannel } from '../adapters/types.js';

export const STATUSES = ['pending', 'active', 'proactive', 'on_hold', 'idle', 'resolved', 'closed'] as const;
export type TicketStatus = (typeof STATUSES)[number];
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];
export type Handler = 'bot' | 'agent';
export type CreatedBy = 'customer' | 'agent' | 'system';
export type ActorKind = 'customer' | 'bot' | 'agent' | 'system';

/** Who did something. Agents carry their role so the status table can check permission. */
export interface Actor {
  kind: ActorKind;
  id?: string;
  name?: string;
  role?: 'admin' | 'agent';
}

export const SYSTEM: Actor = { kind: 'system' };
export const BOT: Actor = { kind: 'bot' };

export interface TicketRow {
  id: string;
  conversationId: string | null;
  contactId: string | null;
  channel: TicketChannel;
  account: string | null;
  subject: string;
  description: string | null;
  type: Handler;
  status: TicketStatus;
  priority: Priority;
  category: string | null;
  tags: string; // JSON array
  assigneeId: string | null;
  lastAssigneeId: string | null;
  teamId: string | null;
  createdBy: CreatedBy;
  createdById: string | null;
  linkedTicketId: string | null;
  openKey: string | null;
  handoffAt: number | null;
  handoffCause: string | null;
  botFlow: string | null;
  createdAt: number;
  updatedAt: number;
  firstResponseAt: number | null;
  resolvedAt: number | null;
  closedAt: number | null;
  lastCustomerMessageAt: number | null;
  lastAgentMessageAt: number | null;
  statusChangedAt: number;
  slaFirstResponseDueAt: number | null;
  slaResolutionDueAt: number | null;
  slaBreachedAt: number | null;
  csatScore: number | null;
  csatComment: string | null;
  version: number;
  // Added by migration 0002 (optional so rows built before it still type-check).
  slaPausedMs?: number;
  slaPausedAt?: number | null;
  slaNextCheckAt?: number | null;
  slaFirstResponseBreachedAt?: number | null;
  slaResolutionBreachedAt?: number | null;
  csatRequestedAt?: number | null;
  csatSkipped?: string | null;
  // Added by migration 0003 (derived SLA columns for list filter/sort).
  slaDueAt?: number | null;
  slaWarnAt?: number | null;
}

export interface MessageRow {
  id: string;
  ticketId: string;
  conversationId: string | null;
  channel: TicketChannel;
  direction: 'in' | 'out';
  author: 'customer' | 'bot' | 'agent' | 'system';
  authorId: string | null;
  kind: 'text' | 'choice' | 'template' | 'media' | 'other';
  text: string;
  payload: string | null; // JSON: options, template, media, location...
  externalId: string | null;
  status: 'queued' | 'sent' | 'delivered' | 'read' | 'failed' | null;
  error: string | null;
  platformAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface ConversationRow {
  id: string;
  channel: Channel;
  account: string;
  contactId: string;
  address: string;
  lastInboundAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface UserRow {
  id: string;
  name: string;
  email: string | null;
  role: 'admin' | 'agent';
  permissions: string; // JSON array
  tokenHash: string;
  presence: 'online' | 'away' | 'offline';
  capacity: number;
  lastSeenAt: number | null;
  lastAssignedAt?: number | null;
  createdAt: number;
  updatedAt: number;
}

/** The key only non-closed tickets carry: the database refuses a second open ticket for it. */
export function openKeyFor(channel: TicketChannel, account: string | null, contactId: string | null): string | null {
  if (channel === 'internal' || !contactId) return null;
  return `${channel}|${account ?? ''}|${contactId}`;
}
