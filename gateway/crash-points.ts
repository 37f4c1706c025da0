// Test-only crash points for the crash tests (test/e2e/crash.test.ts): with
// CRASH_AT=<point>:<n> the process SIGKILLs itself the n-th time it reaches <point>,
// exactly like a power cut at that line. Inert (one boolean check) unless CRASH_AT is set.
//
// Points: before-ack (inbound stored, 200 not sent yet), after-ack (200 sent, processing
// not started), after-thread (message threaded into its ticket, bot turn and outbox not
// written yet), before-send (outbox row claimed, platform not called), after-send
// (platform accepted the message, the row not marked sent yet).

export type CrashPoint = 'before-ack' | 'after-ack' | 'after-thread' | 'before-send' | 'after-send';

const spec = /^([a-z-]+):(\d+)$/.exec(process.env.CRASH_AT ?? '');
const armed = spec ? { point: spec[1] as CrashPoint, left: Number(spec[2]) } : null;

export function crashPoint(point: CrashPoint): void {
  if (!armed || armed.point !== point) return;
  if (--armed.left > 0) return;
  process.kill(process.pid, 'SIGKILL');
}
