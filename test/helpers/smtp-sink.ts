// A real SMTP listener (smtp-server) on 127.0.0.1 that records every message it accepts.
// Recipients can be made to fail with a chosen reply code (e.g. 450 or 550).

import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
  parsed: ParsedMail;
}

export interface SmtpSink {
  port: number;
  /** smtp://user:pass@127.0.0.1:port */
  url: string;
  received: ReceivedMail[];
  /** Resolves with the next (or the n-th overall, 1-based) received mail. */
  next(): Promise<ReceivedMail>;
  /** Make RCPT TO for `address` fail with `code` (e.g. 451 or 550). */
  failRecipient(address: string, code: number): void;
  stop(): Promise<void>;
}

export async function startSmtpSink(auth = { user: 'mailer', pass: 'smtp-secret' }): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const waiters: ((m: ReceivedMail) => void)[] = [];
  let consumed = 0;
  const failures = new Map<string, number>();

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(a, _session, cb) {
      if (a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
      else cb(new Error('Invalid username or password'));
    },
    onRcptTo(address, _session, cb) {
      const code = failures.get(address.address.toLowerCase());
      if (code) {
        const err = new Error(`${code} recipient refused by test`) as Error & { responseCode: number };
        err.responseCode = code;
        return cb(err);
      }
      cb();
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        try {
          const raw = Buffer.concat(chunks);
          const parsed = await simpleParser(raw);
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            parsed,
          };
          received.push(mail);
          const w = waiters.shift();
          if (w) {
            consumed++;
            w(mail);
          }
          cb();
        } catch (err) {
          cb(err as Error);
        }
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;

  return {
    port,
    url: `smtp://${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@127.0.0.1:${port}`,
    received,
    next() {
      if (consumed < received.length) return Promise.resolve(received[consumed++]);
      return new Promise((resolve) => waiters.push(resolve));
    },
    failRecipient(address, code) {
      failures.set(address.toLowerCase(), code);
    },
    stop() {
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
