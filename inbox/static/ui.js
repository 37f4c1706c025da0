// Small shared pieces: badges, error notes, tabs with arrow-key navigation, dialogs.

import { html } from './html.js';
import { useEffect, useRef } from 'preact/hooks';
import { dateTime, humanDuration, label } from './model.js';

export function StatusBadge({ status }) {
  return html`<span class=${`badge st-${status}`}>${label(status)}</span>`;
}

export function SlaBadge({ sla, now = Date.now() }) {
  const state = sla?.state ?? 'none';
  if (state === 'none') return html`<span class="sla sla-none" title="No SLA target applies">—<span class="visually-hidden">No SLA</span></span>`;
  const due = [sla.firstResponseDueAt, sla.resolutionDueAt].filter(Boolean).map(Date.parse).filter((d) => d > now);
  const next = due.length ? Math.min(...due) : null;
  const title = state === 'red'
    ? `SLA breached ${dateTime(sla.breachedAt)}`
    : state === 'met'
      ? 'SLA met'
      : `First response due ${dateTime(sla.firstResponseDueAt)}; resolution due ${dateTime(sla.resolutionDueAt)}`;
  const text = state === 'green' || state === 'yellow' ? (next ? humanDuration(next - now) : label(state)) : label(state);
  return html`<span class=${`sla sla-${state}`} title=${title} data-sla=${state}>
    <span class="visually-hidden">SLA ${label(state)}: </span>${text}</span>`;
}

export function ErrorNote({ error, id }) {
  if (!error) return null;
  return html`<p class="error" role="alert" id=${id}>${error.message ?? String(error)}</p>`;
}

/** Tabs (WAI-ARIA pattern): arrow keys move between tabs, the panel follows. */
export function Tabs({ tabs, current, onChange, label: name }) {
  const ref = useRef(null);
  const onKey = (e) => {
    const i = tabs.findIndex((t) => t.id === current);
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    if (e.key === 'Home') j = 0;
    if (e.key === 'End') j = tabs.length - 1;
    if (j === null) return;
    e.preventDefault();
    onChange(tabs[j].id);
    requestAnimationFrame(() => ref.current?.querySelector(`[data-tab="${tabs[j].id}"]`)?.focus());
  };
  return html`
    <div role="tablist" aria-label=${name} class="tabs" ref=${ref} onKeyDown=${onKey}>
      ${tabs.map((t) => html`
        <button type="button" role="tab" id=${`tab-${t.id}`} data-tab=${t.id} aria-selected=${t.id === current}
          aria-controls=${`panel-${t.id}`} tabIndex=${t.id === current ? 0 : -1} onClick=${() => onChange(t.id)}>
          ${t.label}${t.count ? html` <span class="count">${t.count}</span>` : null}
        </button>`)}
    </div>`;
}

export function TabPanel({ id, children }) {
  return html`<div role="tabpanel" id=${`panel-${id}`} aria-labelledby=${`tab-${id}`} class="panel" tabIndex="0">${children}</div>`;
}

/** A native modal <dialog>: focus is trapped by the browser and Escape closes it. */
export function Dialog({ open, title, onClose, children, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return html`
    <dialog ref=${ref} class=${`dialog ${wide ? 'wide' : ''}`} aria-labelledby="dialog-title" onClose=${onClose} onCancel=${onClose}>
      ${open ? html`
        <div class="dialog-head">
          <h2 id="dialog-title">${title}</h2>
          <button type="button" class="icon" aria-label="Close" onClick=${onClose}>×</button>
        </div>
        ${children}` : null}
    </dialog>`;
}
