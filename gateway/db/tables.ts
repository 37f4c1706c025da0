// The schema in one compact description. Migrations build tables from it through
// TypeORM's portable Table API (SQLite and MySQL alike); entities.ts turns it into
// EntitySchemas. Times are BIGINT ms since epoch; lists and objects are JSON TEXT.

export type ColumnKind = 'id' | 'key' | 'str' | 'short' | 'text' | 'long' | 'hash' | 'int' | 'bigint';

export interface ColumnDef {
  name: string;
  kind: ColumnKind;
  nullable?: boolean;
  default?: string | number;
}

export interface TableDef {
  name: string;
  columns: ColumnDef[];
  primary: string[];
  indices?: { name: string; columns: string[]; unique?: boolean }[];
}

const c = (name: string, kind: ColumnKind, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name, kind, ...extra });
const opt = (name: string, kind: ColumnKind): ColumnDef => ({ name, kind, nullable: true });

/** Characters in a `key` column (platform ids, addresses, conversation keys). */
export const KEY_CHARS = 190;

/** Column SQL types: lengths chosen so utf8mb4 unique keys stay within InnoDB's limits. */
export const columnType: Record<ColumnKind, { type: string; length?: string }> = {
  id: { type: 'varchar', length: '32' },
  key: { type: 'varchar', length: String(KEY_CHARS) },
  str: { type: 'varchar', length: '255' },
  short: { type: 'varchar', length: '24' },
  text: { type: 'text' },
  // JSON or free text that may exceed 64 KB: MEDIUMTEXT on MySQL (mysqlColumnType); SQLite TEXT is unbounded.
  long: { type: 'text' },
  // A hex SHA-256 digest.
  hash: { type: 'varchar', length: '64' },
  int: { type: 'int' },
  bigint: { type: 'bigint' },
};

/** Where MySQL's DDL differs from the portable type (entities keep the portable one: SQLite refuses 'mediumtext'). */
export const mysqlColumnType: Partial<Record<ColumnKind, { type: string; length?: string }>> = {
  long: { type: 'mediumtext' },
};

/** The DDL type of a column kind for a driver. */
export const ddlType = (kind: ColumnKind, mysql: boolean) => (mysql ? mysqlColumnType[kind] : undefined) ?? columnType[kind];

export const initialTables: TableDef[] = [
  {
    name: 'contacts',
    columns: [c('id', 'id'), opt('name', 'str'), c('createdAt', 'bigint'), c('updatedAt', 'bigint')],
    primary: ['id'],
  },
  {
    // One row per platform identity (wa_id, business-scoped user id, IGSID, email address).
    name: 'contact_identities',
    columns: [c('id', 'id'), c('contactId', 'id'), c('channel', 'short'), c('value', 'key'), c('createdAt', 'bigint')],
    primary: ['id'],
    indices: [
      { name: 'uq_identity', columns: ['channel', 'value'], unique: true },
      { name: 'ix_identity_contact', columns: ['contactId'] },
    ],
  },
  {
    // A contact on one channel account: where replies go and when the messaging window opened.
    name: 'conversations',
    columns: [
      c('id', 'id'), c('channel', 'short'), c('account', 'key'), c('contactId', 'id'), c('address', 'key'),
      opt('lastInboundAt', 'bigint'), c('createdAt', 'bigint'), c('updatedAt', 'bigint'),
    ],
    primary: ['id'],
    indices: [{ name: 'uq_conversation', columns: ['channel', 'account', 'contactId'], unique: true }],
  },
  {
    name: 'tickets',
    columns: [
      c('id', 'id'), opt('conversationId', 'id'), opt('contactId', 'id'), c('channel', 'short'), opt('account', 'key'),
      c('subject', 'str'), opt('description', 'text'), c('type', 'short'), c('status', 'short'), c('priority', 'short'),
      opt('category', 'key'), c('tags', 'text'), opt('assigneeId', 'id'), opt('lastAssigneeId', 'id'), opt('teamId', 'id'),
      c('createdBy', 'short'), opt('createdById', 'id'), opt('linkedTicketId', 'id'),
      // Carried only while the ticket is not closed: the database refuses a second open ticket.
      opt('openKey', 'key'),
      opt('handoffAt', 'bigint'), opt('handoffCause', 'short'), opt('botFlow', 'key'),
      c('createdAt', 'bigint'), c('updatedAt', 'bigint'), opt('firstResponseAt', 'bigint'), opt('resolvedAt', 'bigint'),
      opt('closedAt', 'bigint'), opt('lastCustomerMessageAt', 'bigint'), opt('lastAgentMessageAt', 'bigint'),
      c('statusChangedAt', 'bigint'),
      opt('slaFirstResponseDueAt', 'bigint'), opt('slaResolutionDueAt', 'bigint'), opt('slaBreachedAt', 'bigint'),
      opt('csatScore', 'int'), opt('csatComment', 'text'), c('version', 'int', { default: 0 }),
    ],
    primary: ['id'],
    indices: [
      { name: 'uq_ticket_open', columns: ['openKey'], unique: true },
      { name: 'ix_ticket_status_created', columns: ['status', 'createdAt'] },
      { name: 'ix_ticket_created', columns: ['createdAt'] },
      { name: 'ix_ticket_updated', columns: ['updatedAt'] },
      { name: 'ix_ticket_assignee', columns: ['assigneeId', 'status'] },
      { name: 'ix_ticket_contact', columns: ['contactId'] },
      { name: 'ix_ticket_conversation', columns: ['conversationId'] },
    ],
  },
  {
    name: 'messages',
    columns: [
      c('id', 'id'), c('ticketId', 'id'), opt('conversationId', 'id'), c('channel', 'short'), c('direction', 'short'),
      c('author', 'short'), opt('authorId', 'id'), c('kind', 'short'), c('text', 'text'), opt('payload', 'text'),
      opt('externalId', 'key'), opt('status', 'short'), opt('error', 'text'), opt('platformAt', 'bigint'),
      c('createdAt', 'bigint'), c('updatedAt', 'bigint'),
    ],
    primary: ['id'],
    indices: [
      // A platform message id is stored once, however often and wherever it arrives.
      { name: 'uq_message_external', columns: ['channel', 'externalId'], unique: true },
      { name: 'ix_message_ticket', columns: ['ticketId', 'createdAt'] },
    ],
  },
  {
    name: 'timeline',
    columns: [
      c('id', 'id'), c('ticketId', 'id'), c('at', 'bigint'), c('type', 'short'), c('actorKind', 'short'),
      opt('actorId', 'id'), opt('actorName', 'str'), c('data', 'text'),
    ],
    primary: ['id'],
    indices: [{ name: 'ix_timeline_ticket', columns: ['ticketId', 'at'] }],
  },
  {
    name: 'users',
    columns: [
      c('id', 'id'), c('name', 'str'), opt('email', 'key'), c('role', 'short'), c('permissions', 'text'),
      c('tokenHash', 'key'), c('presence', 'short'), c('capacity', 'int'), opt('lastSeenAt', 'bigint'),
      c('createdAt', 'bigint'), c('updatedAt', 'bigint'),
    ],
    primary: ['id'],
    indices: [
      { name: 'uq_user_token', columns: ['tokenHash'], unique: true },
      { name: 'uq_user_email', columns: ['email'], unique: true },
    ],
  },
  {
    name: 'teams',
    columns: [c('id', 'id'), c('name', 'key'), c('createdAt', 'bigint')],
    primary: ['id'],
    indices: [{ name: 'uq_team_name', columns: ['name'], unique: true }],
  },
  {
    name: 'team_members',
    columns: [c('teamId', 'id'), c('userId', 'id')],
    primary: ['teamId', 'userId'],
  },
  {
    // One row per setting; PUT /api/settings merges by key.
    name: 'settings',
    columns: [c('name', 'key'), c('value', 'text'), c('updatedAt', 'bigint')],
    primary: ['name'],
  },
  {
    // Every accepted platform message, stored before the webhook is acknowledged.
    name: 'inbound',
    columns: [
      c('id', 'id'), c('channel', 'short'), c('account', 'key'), c('externalId', 'key'), c('convKey', 'key'),
      c('payload', 'text'), c('status', 'short'), c('attempts', 'int', { default: 0 }), opt('error', 'text'),
      opt('ticketId', 'id'), opt('messageId', 'id'), c('receivedAt', 'bigint'), opt('processedAt', 'bigint'),
    ],
    primary: ['id'],
    indices: [
      { name: 'uq_inbound', columns: ['channel', 'account', 'externalId'], unique: true },
      { name: 'ix_inbound_pending', columns: ['status', 'convKey'] },
    ],
  },
  {
    // Outbound messages waiting for (or done with) their send, written with the change that caused them.
    name: 'outbox',
    columns: [
      c('id', 'id'), c('messageId', 'id'), c('channel', 'short'), c('account', 'key'), c('recipient', 'key'),
      c('payload', 'text'), c('status', 'short'), c('attempts', 'int', { default: 0 }), c('nextAttemptAt', 'bigint'),
      opt('lockedUntil', 'bigint'), opt('error', 'text'), c('createdAt', 'bigint'), c('updatedAt', 'bigint'),
    ],
    primary: ['id'],
    indices: [{ name: 'ix_outbox_due', columns: ['status', 'nextAttemptAt'] }],
  },
  {
    // Bot conversation state, written with a version check (bot/ owns its content).
    name: 'bot_state',
    columns: [c('id', 'key'), c('version', 'int'), c('data', 'text'), c('updatedAt', 'bigint')],
    primary: ['id'],
  },
  {
    // Small per-transport state: IMAP checkpoints, whatsapp-web session.
    name: 'channel_state',
    columns: [c('id', 'key'), c('value', 'text'), c('updatedAt', 'bigint')],
    primary: ['id'],
  },
];

/**
 * Second schema step (migration 0002): SLA bookkeeping stored on the ticket so the
 * scheduler finds due work by index instead of scanning, CSAT episodes, round-robin
 * tiebreak, attachments, flow versions, and the indexes the list needs at a million rows.
 */
export const schemaStep2 = {
  addColumns: {
    tickets: [
      // Resolution clock pause (idle / proactive): accumulated ms and the start of the current pause.
      c('slaPausedMs', 'bigint', { default: 0 }),
      opt('slaPausedAt', 'bigint'),
      // The next moment the scheduler must look at this ticket's SLA (warning or breach); null: nothing due.
      opt('slaNextCheckAt', 'bigint'),
      // One breach event per target: set when recorded.
      opt('slaFirstResponseBreachedAt', 'bigint'),
      opt('slaResolutionBreachedAt', 'bigint'),
      // CSAT is asked once per resolve episode; skipped (outside the window) is recorded.
      opt('csatRequestedAt', 'bigint'),
      opt('csatSkipped', 'short'),
    ],
    users: [
      // Round-robin tiebreak among equally loaded agents: least recently assigned first.
      opt('lastAssignedAt', 'bigint'),
    ],
  } as Record<string, ColumnDef[]>,
  tables: [
    {
      // Files: agent uploads (sent as media) and inbound media fetched or kept (email attachments).
      name: 'attachments',
      columns: [
        c('id', 'id'), opt('messageId', 'id'), opt('ticketId', 'id'), c('filename', 'str'), c('contentType', 'key'),
        c('size', 'bigint'), c('storageKey', 'key'), opt('sha256', 'short'), c('createdAt', 'bigint'),
      ],
      primary: ['id'],
      indices: [
        { name: 'ix_attachment_message', columns: ['messageId'] },
        { name: 'ix_attachment_ticket', columns: ['ticketId'] },
      ],
    },
    {
      // Every flow version a conversation may still be on: id = name@hash, source kept so a
      // restart resumes conversations on the version they started with.
      name: 'flow_versions',
      columns: [c('id', 'key'), c('name', 'key'), c('hash', 'short'), c('source', 'text'), c('createdAt', 'bigint')],
      primary: ['id'],
      indices: [{ name: 'ix_flow_version_name', columns: ['name', 'createdAt'] }],
    },
  ] as TableDef[],
  indices: {
    tickets: [
      { name: 'ix_ticket_sla_check', columns: ['slaNextCheckAt'] },
      { name: 'ix_ticket_status_changed', columns: ['status', 'statusChangedAt'] },
      { name: 'ix_ticket_status_updated', columns: ['status', 'updatedAt'] },
      { name: 'ix_ticket_status_agent_msg', columns: ['status', 'lastAgentMessageAt'] },
      { name: 'ix_ticket_priority_created', columns: ['priority', 'createdAt'] },
      { name: 'ix_ticket_channel_created', columns: ['channel', 'createdAt'] },
      { name: 'ix_ticket_category_created', columns: ['category', 'createdAt'] },
      { name: 'ix_ticket_team_status', columns: ['teamId', 'status'] },
      { name: 'ix_ticket_linked', columns: ['linkedTicketId'] },
    ],
    messages: [{ name: 'ix_message_conversation', columns: ['conversationId', 'createdAt'] }],
  } as Record<string, NonNullable<TableDef['indices']>>,
};

/**
 * Third schema step (migration 0003): two more derived SLA columns so the list filters
 * (`sla=yellow,red`) and sorts (`sort=sla`) in SQL from an index instead of computing
 * every ticket's clock in memory; a subject index for `sort=subject`.
 */
export const schemaStep3 = {
  addColumns: {
    tickets: [
      // Earliest due moment among the targets whose clock runs (or a missed one): sort key of sort=sla.
      opt('slaDueAt', 'bigint'),
      // The moment the ticket turns (or turned) yellow; null while no warning is pending.
      opt('slaWarnAt', 'bigint'),
    ],
  } as Record<string, ColumnDef[]>,
  indices: {
    tickets: [
      { name: 'ix_ticket_sla_due', columns: ['slaDueAt'] },
      { name: 'ix_ticket_sla_breached', columns: ['slaBreachedAt'] },
      { name: 'ix_ticket_sla_warn', columns: ['slaWarnAt'] },
      { name: 'ix_ticket_subject', columns: ['subject'] },
    ],
  } as Record<string, NonNullable<TableDef['indices']>>,
};

/**
 * Fourth schema step (migration 0004): list indexes measured with a million tickets
 * (bench/tickets-list.ts). SQLite secondary indexes end in the rowid, not the id, so the
 * sorts' id tiebreak is spelled out (MySQL's secondary indexes end in the primary key anyway).
 */
export const schemaStep4 = {
  dropIndices: { tickets: ['ix_ticket_subject'] } as Record<string, string[]>,
  indices: {
    tickets: [
      // sort=subject: ordered by (subject, id) without sorting the many equal subjects.
      { name: 'ix_ticket_subject_id', columns: ['subject', 'id'] },
      // assignee=<id>|none with the default newest-first order; the unassigned part of sort=assignee.
      { name: 'ix_ticket_assignee_created', columns: ['assigneeId', 'createdAt'] },
      // sort=assignee: (assigneeId, id) in index order.
      { name: 'ix_ticket_assignee_id', columns: ['assigneeId', 'id'] },
      // sort=priority within a status (the queue by urgency), status + priority filters.
      { name: 'ix_ticket_status_priority_created', columns: ['status', 'priority', 'createdAt'] },
    ],
  } as Record<string, NonNullable<TableDef['indices']>>,
};

/**
 * Sixth schema step (migration 0006; 0005 is the SQLite search index): columns holding
 * JSON or free text that can exceed MySQL TEXT's 64 KB (a long email, a big flow source,
 * a settings collection) become MEDIUMTEXT (16 MB), and attachments.sha256 holds the
 * 64-character hex digest (it was VARCHAR(24), so the hash went unstored). SQLite
 * neither bounds TEXT nor enforces VARCHAR lengths: nothing changes there.
 */
export const schemaStep6 = {
  changeKinds: {
    inbound: { payload: 'long' },
    messages: { text: 'long', payload: 'long' },
    outbox: { payload: 'long' },
    timeline: { data: 'long' },
    bot_state: { data: 'long' },
    channel_state: { value: 'long' },
    settings: { value: 'long' },
    tickets: { description: 'long' },
    flow_versions: { source: 'long' },
    attachments: { sha256: 'hash' },
  } as Record<string, Record<string, ColumnKind>>,
};

const withKinds = (def: TableDef, kinds: Record<string, ColumnKind> = {}): TableDef => ({
  ...def,
  columns: def.columns.map((col) => (kinds[col.name] ? { ...col, kind: kinds[col.name]! } : col)),
});

/** The tables before step 6 (what migration 0006 starts from). */
export const tablesBeforeStep6: TableDef[] = [
  ...initialTables.map((def) => ({
    ...def,
    columns: [...def.columns, ...(schemaStep2.addColumns[def.name] ?? []), ...(schemaStep3.addColumns[def.name] ?? [])],
    indices: [...(def.indices ?? []), ...(schemaStep2.indices[def.name] ?? []), ...(schemaStep3.indices[def.name] ?? []), ...(schemaStep4.indices[def.name] ?? [])]
      .filter((ix) => !(schemaStep4.dropIndices[def.name] ?? []).includes(ix.name)),
  })),
  ...schemaStep2.tables,
];

/** The schema as it stands after every migration: what entities.ts describes. */
export const tables: TableDef[] = tablesBeforeStep6.map((def) => withKinds(def, schemaStep6.changeKinds[def.name]));
