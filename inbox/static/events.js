// Live updates from GET /api/events (server-sent events). EventSource can't send an
// Authorization header, so the token travels as ?access_token=. The browser resends
// Last-Event-ID on its own reconnects; after a refused connection we retry with backoff.

export const EVENT_TYPES = [
  'ticket.created', 'ticket.updated', 'ticket.handoff', 'ticket.assigned',
  'message.created', 'message.updated', 'comment.created', 'note.created', 'sla.breached', 'sla.warning',
];

export function connectEvents(token, onEvent, onStatus = () => {}) {
  let source = null;
  let stopped = false;
  let retryMs = 1000;
  let timer = null;

  const open = () => {
    if (stopped) return;
    source = new EventSource(`/api/events?access_token=${encodeURIComponent(token)}`);
    source.onopen = () => {
      retryMs = 1000;
      onStatus('live');
    };
    const handle = (m) => {
      try {
        onEvent(JSON.parse(m.data));
      } catch {
        /* a malformed event is skipped, the stream goes on */
      }
    };
    for (const t of EVENT_TYPES) source.addEventListener(t, handle);
    // Away longer than the gateway's event log reaches back: reload what is on screen.
    source.addEventListener('resync', () => onStatus('live'));
    source.onmessage = handle;
    source.onerror = () => {
      onStatus('reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the gateway restarted and answered an error): try again later.
        timer = setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, 30_000);
      }
    };
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
