// The email channel: parse (mailparser + quote stripping + loop rules), IMAP watcher, SMTP send.
export { parseEmail, type ParseEmailOptions } from './parse.js';
export { extractReply, extractReplyFromHtml, cutQuotedHistory, decodeFlowed } from './quotes.js';
export { LOOP_RULES, automaticReasons, type LoopRule, type LoopContext } from './loop-rules.js';
export { ImapWatcher, parseImapUrl, type ImapWatcherOptions, type ImapCheckpoint, type ImapTarget } from './imap-watcher.js';
export { MemoryCheckpointStore, SqlCheckpointStore, type CheckpointStore } from './checkpoint.js';
export { ticketMarker, replyTokenAddress, findTicketRefs } from './markers.js';
export { createEmailAdapter, EMAIL_CAPABILITIES, subjectFor, toSendError, type EmailAdapter, type EmailAdapterOptions } from './send.js';
