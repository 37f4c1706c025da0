// One ticket: header, actions allowed by the status machine, fields, and the tabs
// (conversation with the reply composer, timeline, comments, internal notes).

import { html } from './html.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, get } from './api.js';
import { bus, debounce } from './bus.js';
import { Composer } from './composer.js';
import { MOVE_LABEL, PRIORITIES, allowedMoves, contactLine, dateTime, label } from './model.js';
import { ErrorNote, SlaBadge, StatusBadge, TabPanel, Tabs } from './ui.js';

export const canReadNotes = (me) => me.role === 'admin' || (me.permissions ?? []).includes('notes');

export function TicketDetail({ id, me, lookups, onCreateLinked }) {
  const [t, setT] = useState(null);
  const [error, setError] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [tab, setTab] = useState('conversation');
  const [announce, setAnnounce] = useState('');
  const seq = useRef(0);

  const load = async () => {
    const my = ++seq.current;
    try {
      const ticket = await get(`/api/tickets/${encodeURIComponent(id)}`);
      if (my !== seq.current) return;
      setT(ticket);
      setError(null);
    } catch (err) {
      if (my === seq.current) setError(err);
    }
  };

  useEffect(() => {
    setT(null);
    setTab('conversation');
    setActionError(null);
    load();
  }, [id]);

  const reload = useRef(null);
  reload.current = load;
  useEffect(() => {
    const d = debounce(() => reload.current(), 100);
    const off = bus.on((e) => {
      if (e.ticketId === id || e.type === 'connected') d();
    });
    return () => {
      off();
      d.cancel();
    };
  }, [id]);

  /** Runs one change; the response (the updated ticket) replaces what we show. */
  async function act(what, fn) {
    setBusy(true);
    setActionError(null);
    try {
      const res = await fn();
      if (res && res.id === id && res.timeline) setT(res);
      else await load();
      setAnnounce(`${what}: done`);
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  }

  if (error) return html`<section class="detail"><a class="back" href="#/">← Tickets</a><${ErrorNote} error=${error} /></section>`;
  if (!t) return html`<section class="detail" aria-busy="true"><p class="muted">Loading ticket ${id}…</p></section>`;

  const notes = canReadNotes(me);
  const entries = t.timeline ?? [];
  const messages = entries.filter((e) => e.type === 'message' && e.message);
  const comments = entries.filter((e) => e.type === 'comment');
  const noteEntries = notes ? entries.filter((e) => e.type === 'note') : [];
  const changes = entries.filter((e) => e.type !== 'message' && e.type !== 'comment' && e.type !== 'note');
  const tabs = [
    { id: 'conversation', label: t.channel === 'internal' ? 'Task' : 'Conversation', count: messages.length },
    { id: 'timeline', label: 'Timeline', count: changes.length },
    { id: 'comments', label: 'Comments', count: comments.length },
    ...(notes ? [{ id: 'notes', label: 'Internal notes', count: noteEntries.length }] : []),
  ];
  const current = tabs.some((x) => x.id === tab) ? tab : 'conversation';

  const patch = (what, body) => act(what, () => api('PATCH', `/api/tickets/${t.id}`, body));
  const isBot = t.type === 'bot';
  // While the bot converses, the agent's choices are to take over or to close it.
  const moves = allowedMoves(t.status, me.role).filter((to) => !isBot || to === 'closed');

  return html`
    <article class="detail" aria-labelledby="ticket-title">
      <a class="back" href="#/">← Tickets</a>
      <header class="detail-head">
        <h2 id="ticket-title" tabIndex="-1">${t.subject || '(no subject)'}</h2>
        <p class="meta">
          <span class="mono">${t.id}</span> · <span class=${`chan chan-${t.channel}`}>${label(t.channel)}</span> · ${contactLine(t)}
          · opened ${dateTime(t.createdAt)}${t.linkedTicketId ? html` · linked to <a href=${`#/t/${t.linkedTicketId}`}>${t.linkedTicketId}</a>` : null}
        </p>
        <div class="badges">
          <${StatusBadge} status=${t.status} />
          <span class=${`type type-${t.type}`} data-testid="ticket-type">${isBot ? 'Bot ticket' : 'Agent ticket'}</span>
          <${SlaBadge} sla=${t.sla} />
        </div>
      </header>

      <div class="actions" role="group" aria-label="Ticket actions">
        ${moves.map((to) => html`
          <button type="button" class=${to === 'closed' || to === 'resolved' ? 'primary' : 'secondary'} disabled=${busy}
            onClick=${() => patch(MOVE_LABEL[to] ?? to, to === 'active' ? { status: 'active', assigneeId: t.assignee?.id ?? me.id } : { status: to })}>
            ${to === 'active' && t.status === 'pending' ? 'Assign to me' : MOVE_LABEL[to] ?? label(to)}
          </button>`)}
        ${isBot && t.status !== 'closed' ? html`
          <button type="button" class="primary" disabled=${busy} onClick=${() => act('Take over', () => api('POST', `/api/tickets/${t.id}/takeover`))}>Take over</button>` : null}
        ${!isBot && t.status === 'active' && t.channel !== 'internal' ? html`<${Handback} t=${t} busy=${busy} flows=${lookups.flows} act=${act} />` : null}
        ${t.status === 'closed' && me.role === 'admin' ? html`
          <button type="button" class="secondary" disabled=${busy} onClick=${() => act('Reopen', () => api('POST', `/api/tickets/${t.id}/reopen`))}>Reopen</button>` : null}
        ${t.channel !== 'internal' ? html`<button type="button" class="secondary" onClick=${() => onCreateLinked(t)}>New linked ticket</button>` : null}
      </div>
      <${ErrorNote} error=${actionError} />
      <p class="visually-hidden" role="status">${announce}</p>

      <${Fields} t=${t} me=${me} lookups=${lookups} busy=${busy} patch=${patch} />

      <${Tabs} label="Ticket sections" tabs=${tabs} current=${current} onChange=${setTab} />
      ${current === 'conversation' ? html`
        <${TabPanel} id="conversation">
          ${t.description && (t.channel === 'internal' || !messages.length) ? html`<p class="description">${t.description}</p>` : null}
          <${Conversation} t=${t} messages=${messages} />
        <//>
        <${Composer} t=${t} me=${me} templates=${lookups.templates} onChanged=${load} busy=${busy}
          onTakeover=${() => act('Take over', () => api('POST', `/api/tickets/${t.id}/takeover`))} />` : null}
      ${current === 'timeline' ? html`<${TabPanel} id="timeline"><${Timeline} entries=${changes} agents=${lookups.agents} /><//>` : null}
      ${current === 'comments' ? html`<${TabPanel} id="comments">
          <${Remarks} t=${t} me=${me} kind="comment" entries=${comments} onChanged=${load} />
        <//>` : null}
      ${current === 'notes' && notes ? html`<${TabPanel} id="notes">
          <${Remarks} t=${t} me=${me} kind="note" entries=${noteEntries} onChanged=${load} />
        <//>` : null}
    </article>`;
}

function Handback({ t, busy, flows, act }) {
  const [flow, setFlow] = useState('');
  const names = (flows ?? []).map((f) => (typeof f === 'string' ? f : f.name)).filter(Boolean);
  return html`
    <span class="handback">
      ${names.length ? html`
        <label class="inline"><span class="visually-hidden">Flow to start</span>
          <select value=${flow} onChange=${(e) => setFlow(e.currentTarget.value)}>
            <option value="">Bot answers next message</option>
            ${names.map((n) => html`<option value=${n}>Start “${n}”</option>`)}
          </select>
        </label>` : null}
      <button type="button" class="secondary" disabled=${busy}
        onClick=${() => act('Hand back to bot', () => api('POST', `/api/tickets/${t.id}/handback`, flow ? { flow } : {}))}>Hand back to bot</button>
    </span>`;
}

function Fields({ t, me, lookups, busy, patch }) {
  const [tags, setTags] = useState((t.tags ?? []).join(', '));
  useEffect(() => setTags((t.tags ?? []).join(', ')), [t.id, (t.tags ?? []).join(',')]);
  const agents = lookups.agents ?? [];
  const saveTags = () => {
    const next = tags.split(',').map((s) => s.trim()).filter(Boolean);
    if (next.join(',') !== (t.tags ?? []).join(',')) patch('Tags', { tags: next });
  };
  const closed = t.status === 'closed';
  const summary = [t.assignee?.name ?? 'Unassigned', label(t.priority), t.category, t.team?.name, ...(t.tags ?? []).map((x) => `#${x}`)].filter(Boolean).join(' · ');
  return html`
    <details class="fields-box">
      <summary><span class="fields-title">Fields</span> <span class="muted">${summary}</span></summary>
    <div class="fields" role="group" aria-label="Ticket fields">
      <label class="field"><span>Assignee</span>
        <select value=${t.assignee?.id ?? ''} disabled=${busy || closed}
          onChange=${(e) => patch('Assign', { assigneeId: e.currentTarget.value || null })}>
          <option value="">Unassigned</option>
          ${agents.map((a) => html`<option value=${a.id}>${a.name}${a.id === me.id ? ' (me)' : ''}${a.presence ? ` · ${a.presence}` : ''}</option>`)}
        </select>
      </label>
      <label class="field"><span>Priority</span>
        <select value=${t.priority} disabled=${busy} onChange=${(e) => patch('Priority', { priority: e.currentTarget.value })}>
          ${PRIORITIES.map((p) => html`<option value=${p}>${label(p)}</option>`)}
        </select>
      </label>
      <label class="field"><span>Category</span>
        ${lookups.categories
          ? html`<select value=${t.category ?? ''} disabled=${busy} onChange=${(e) => patch('Category', { category: e.currentTarget.value || null })}>
              <option value="">None</option>
              ${[...new Set([...(lookups.categories ?? []), ...(t.category ? [t.category] : [])])].map((c) => html`<option value=${c}>${c}</option>`)}
            </select>`
          : html`<input value=${t.category ?? ''} disabled=${busy} onChange=${(e) => patch('Category', { category: e.currentTarget.value.trim() || null })} />`}
      </label>
      ${lookups.teams ? html`
        <label class="field"><span>Team</span>
          <select value=${t.team?.id ?? ''} disabled=${busy} onChange=${(e) => patch('Team', { teamId: e.currentTarget.value || null })}>
            <option value="">None</option>
            ${lookups.teams.map((x) => html`<option value=${x.id}>${x.name}</option>`)}
          </select>
        </label>` : null}
      <label class="field grow"><span>Tags</span>
        <input value=${tags} placeholder="comma, separated" disabled=${busy}
          onInput=${(e) => setTags(e.currentTarget.value)} onBlur=${saveTags}
          onKeyDown=${(e) => e.key === 'Enter' && (e.preventDefault(), saveTags())} />
      </label>
    </div>
    </details>`;
}

const TICKS = {
  queued: ['🕓', 'queued'],
  sent: ['✓', 'sent'],
  delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'],
  failed: ['⚠', 'failed'],
};

export function Ticks({ m }) {
  if (m.direction !== 'out' || !m.status) return null;
  const [sym, word] = TICKS[m.status] ?? ['', m.status];
  return html`<span class=${`ticks ticks-${m.status}`} title=${word}><span aria-hidden="true">${sym}</span><span class="visually-hidden">${word}</span></span>`;
}

/**
 * Media and attachments need the bearer token, which a plain link can't carry: the
 * file is fetched with it and handed to the browser as a download.
 */
function MediaLink({ href, name, size }) {
  const [state, setState] = useState('');
  const download = async (e) => {
    e.preventDefault();
    setState('loading…');
    try {
      const res = await api('GET', href, undefined, { raw: true });
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setState('');
    } catch (err) {
      setState(`not available: ${err.message}`);
    }
  };
  return html`<a href=${href} onClick=${download}>📎 ${name}</a>${size ? html` <span class="muted">(${Math.ceil(size / 1024)} KB)</span>` : null}${state ? html` <span class="muted" role="status">${state}</span>` : null}`;
}

function mediaLinks(t, m) {
  const list = [...(Array.isArray(m.media) ? m.media : m.media ? [m.media] : []), ...(m.attachments ?? [])];
  return list.map((x, i) => {
    const name = x.filename ?? x.caption ?? `${x.type ?? 'file'} ${i + 1}`;
    const href = x.attachmentId
      ? `/api/media/${encodeURIComponent(x.attachmentId)}`
      : x.id && x.contentType
        ? `/api/media/${encodeURIComponent(x.id)}`
        : m.direction === 'in'
          ? `/api/tickets/${encodeURIComponent(t.id)}/messages/${encodeURIComponent(m.id)}/media?index=${i}`
          : null;
    return html`<li>${href ? html`<${MediaLink} href=${href} name=${name} size=${x.size} />` : html`📎 ${name}`} <span class="muted">(${x.type ?? 'media'})</span></li>`;
  });
}

function Conversation({ t, messages }) {
  const list = useRef(null);
  // The newest message stays in view (the list scrolls, the ticket header stays put).
  useEffect(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [messages.length, t.id]);
  if (!messages.length) return html`<p class="muted">${t.channel === 'internal' ? 'Internal task: no customer conversation.' : 'No messages yet.'}</p>`;
  return html`
    <ol class="conversation" aria-label="Messages" ref=${list} tabIndex="0">
      ${messages.map((e) => {
        const m = e.message;
        const who = m.author === 'customer' ? (t.contact?.name ?? 'Customer') : m.author === 'agent' ? (e.actor?.name ?? 'Agent') : m.author === 'bot' ? 'Bot' : 'System';
        return html`
          <li class=${`msg from-${m.author}`} data-author=${m.author}>
            <div class="who">${who}</div>
            ${m.text ? html`<div class="text">${m.text}</div>` : null}
            ${m.kind === 'choice' && m.options ? html`<ul class="options" aria-label="Options offered">${m.options.map((o) => html`<li>${o.title}</li>`)}</ul>` : null}
            ${m.kind === 'template' && m.template ? html`<div class="muted small">Template “${m.template.name}”</div>` : null}
            ${m.media || m.attachments ? html`<ul class="media" aria-label="Attachments">${mediaLinks(t, m)}</ul>` : null}
            <div class="meta">
              <time datetime=${m.createdAt}>${dateTime(m.createdAt)}</time> <${Ticks} m=${m} />
              ${m.status === 'failed' && m.error ? html`<span class="fail">Not delivered: ${m.error}</span>` : null}
            </div>
          </li>`;
      })}
    </ol>`;
}

function describe(e, agents) {
  const name = (id) => (id ? agents?.find((a) => a.id === id)?.name ?? id : 'nobody');
  switch (e.type) {
    case 'status':
      return `Status ${e.from ? `${label(e.from)} → ` : ''}${label(e.to)}${e.cause ? ` (${String(e.cause).replace(/_/g, ' ')})` : ''}`;
    case 'handler':
      return `Handled by ${label(e.to)} (was ${label(e.from)})${e.cause ? `: ${String(e.cause).replace(/_/g, ' ')}` : ''}`;
    case 'assignment':
      return `Assigned to ${name(e.to)}${e.from ? ` (was ${name(e.from)})` : ''}`;
    case 'sla':
      return `SLA: ${String(e.event ?? '').replace(/_/g, ' ')}`;
    case 'fields':
      return `Changed ${Object.entries(e.changes ?? {}).map(([k, v]) => `${k}: ${fmt(v?.from)} → ${fmt(v?.to)}`).join('; ')}`;
    default:
      return `${e.type.replace(/_/g, ' ')}${e.cause ? ` (${e.cause})` : ''}`;
  }
}

const fmt = (v) => (Array.isArray(v) ? v.join(', ') || '∅' : v === null || v === undefined || v === '' ? '∅' : String(v));

function actorName(a) {
  if (!a) return '';
  return a.name ?? (a.kind === 'system' ? 'System' : a.kind === 'bot' ? 'Bot' : a.kind === 'customer' ? 'Customer' : a.kind);
}

function Timeline({ entries, agents }) {
  if (!entries.length) return html`<p class="muted">No changes yet.</p>`;
  return html`
    <ol class="timeline">
      ${entries.map((e) => html`
        <li class=${`tl tl-${e.type}`}>
          <time datetime=${e.at}>${dateTime(e.at)}</time>
          <span class="what">${describe(e, agents)}</span>
          <span class="by muted">${actorName(e.actor)}</span>
        </li>`)}
    </ol>`;
}

/** One comment or note; its author (or an admin) may edit or delete it. */
function Remark({ t, me, kind, e, onChanged }) {
  const [editing, setEditing] = useState(false);
  const [body, setBody] = useState(e.body);
  const [error, setError] = useState(null);
  const mine = !e.deleted && (me.role === 'admin' || e.actor?.id === me.id);
  const path = `/api/tickets/${t.id}/${kind}s/${encodeURIComponent(e.id)}`;
  const run = async (fn) => {
    setError(null);
    try {
      await fn();
      setEditing(false);
      await onChanged();
    } catch (err) {
      setError(err);
    }
  };
  return html`
    <li class=${kind}>
      <div class="who">${actorName(e.actor)} · <time datetime=${e.at}>${dateTime(e.at)}</time>${e.editedAt ? ' · edited' : ''}
        ${mine && e.id && !editing ? html`
          <button type="button" class="link" onClick=${() => { setBody(e.body); setEditing(true); }}>Edit</button>
          <button type="button" class="link danger" onClick=${() => confirm(`Delete this ${kind}?`) && run(() => api('DELETE', path))}>Delete</button>` : null}
      </div>
      ${editing
        ? html`<form class="remark-form" onSubmit=${(ev) => { ev.preventDefault(); run(() => api('PATCH', path, { body })); }}>
            <label class="field grow"><span>Edit ${kind}</span><textarea rows="3" value=${body} onInput=${(ev) => setBody(ev.currentTarget.value)}></textarea></label>
            <div class="row"><button type="submit" class="primary">Save</button><button type="button" class="secondary" onClick=${() => setEditing(false)}>Cancel</button></div>
          </form>`
        : e.deleted ? html`<div class="text muted">Deleted.</div>` : html`<div class="text">${e.body}</div>`}
      <${ErrorNote} error=${error} />
    </li>`;
}

function Remarks({ t, me, kind, entries, onChanged }) {
  const [body, setBody] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const noun = kind === 'note' ? 'internal note' : 'comment';
  const submit = async (e) => {
    e.preventDefault();
    if (!body.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await api('POST', `/api/tickets/${t.id}/${kind}s`, { body });
      setBody('');
      await onChanged();
    } catch (err) {
      setError(err.status === 404 && err.message === 'no such route' ? new Error(`This gateway does not take ${noun}s yet.`) : err);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <div class=${`remarks remarks-${kind}`}>
      <p class="hint">${kind === 'note'
        ? 'Internal notes are visible only to users with the notes permission. Never sent to the customer.'
        : 'Comments are visible to the whole team. Never sent to the customer.'}</p>
      ${entries.length ? html`
        <ol class="remark-list">
          ${entries.map((e) => html`<${Remark} key=${e.id ?? e.at} t=${t} me=${me} kind=${kind} e=${e} onChanged=${onChanged} />`)}
        </ol>` : html`<p class="muted">No ${noun}s yet.</p>`}
      <form onSubmit=${submit} class="remark-form">
        <label class="field grow"><span>Add ${noun === 'comment' ? 'a comment' : 'an internal note'}</span>
          <textarea rows="3" value=${body} onInput=${(e) => setBody(e.currentTarget.value)}
            onKeyDown=${(e) => (e.ctrlKey || e.metaKey) && e.key === 'Enter' && submit(e)}></textarea>
        </label>
        <${ErrorNote} error=${error} />
        <button type="submit" class="primary" disabled=${busy || !body.trim()}>Add ${noun}</button>
      </form>
    </div>`;
}
