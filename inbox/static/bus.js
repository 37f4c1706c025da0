// One in-page fan-out of the /api/events stream: the shell connects once, the list and
// the open ticket subscribe.

const listeners = new Set();

export const bus = {
  on(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  emit(event) {
    for (const fn of listeners) fn(event);
  },
};

/** Calls fn at most once per `ms` after a burst (a handoff produces several events at once). */
export function debounce(fn, ms) {
  let timer = null;
  const d = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}
