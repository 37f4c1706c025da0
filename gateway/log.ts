import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout (LOG_LEVEL, default info; silent in tests unless LOG_LEVEL is set). */
export function createLogger(level = process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info')): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
