// The ticket list: views (open, mine, unassigned, all), filters, search by subject or
// id, sortable columns, cursor pages, and live refresh from the event stream.

import { html } from './html.js';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, get, qs } from './api.js';
import { bus, debounce } from './bus.js';
import { CHANNELS, OPEN_STATUSES, PRIORITIES, SLA_STATES, STATUSES, contactLine, dateTime, label, timeAgo } from './model.js';
import { SlaBadge, StatusBadge, ErrorNote } from './ui.js';

const STATE_KEY = 'chatgate.list';
const VIEWS = [
  ['open', 'Open'],
  ['mine', 'My tickets'],
  ['unassigned', 'Unassigned'],
  ['all', 'All'],
];
const EMPTY_FILTERS = { status: '', type: '', channel: '', priority: '', category: '', assignee: '', team: '', sla: '' };

function loadState() {
  try {
    const s = JSON.parse(sessionStorage.getItem(STATE_KEY) ?? '{}');
    return { view: s.view ?? 'open', filters: { ...EMPTY_FILTERS, ...(s.filters ?? {}) }, sort: s.sort ?? '-createdAt', q: s.q ?? '' };
  } catch {
    return { view: 'open', filters: { ...EMPTY_FILTERS }, sort: '-createdAt', q: '' };
  }
}

/** The API query of a view + filters + search + sort. */
export function listQuery({ view, filters, q, sort }, limit = 50) {
  const p = { ...filters, q: q.trim(), sort, limit };
  if (view === 'mine') p.assignee = 'me';
  if (view === 'unassigned') {
    // Bot conversations have no assignee either; this view is the agents' queue.
    p.assignee = 'none';
    p.type ||= 'agent';
  }
  if (view !== 'all' && !p.status) p.status = OPEN_STATUSES;
  return p;
}

const COLUMNS = [
  { key: 'subject', label: 'Subject', sort: 'subject' },
  { key: 'priority', label: 'Priority', sort: 'priority' },
  { key: 'status', label: 'Status', sort: 'status' },
  { key: 'type', label: 'Type', optional: true },
  { key: 'assignee', label: 'Assignee', sort: 'assignee' },
  { key: 'createdAt', label: 'Created', sort: 'createdAt', optional: true },
  { key: 'sla', label: 'SLA', sort: 'sla' },
];

export function TicketList({ me, lookups, selectedId, unread, onItems }) {
  const initial = useMemo(loadState, []);
  const [view, setView] = useState(initial.view);
  const [filters, setFilters] = useState(initial.filters);
  const [sort, setSort] = useState(initial.sort);
  const [q, setQ] = useState(initial.q);
  const [query, setQuery] = useState(initial.q);
  const [items, setItems] = useState(null);
  const [nextCursor, setNextCursor] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [showFilters, setShowFilters] = useState(Object.values(initial.filters).some(Boolean));
  const seq = useRef(0);
  const count = useRef(50);
  const shown = useRef(new Set());
  shown.current = new Set((items ?? []).map((t) => t.id));

  const state = { view, filters, q: query, sort };
  const key = JSON.stringify(state);
  useEffect(() => sessionStorage.setItem(STATE_KEY, JSON.stringify({ view, filters, sort, q: query })), [key]);

  // Typing searches after a short pause, not on every key.
  const commitQ = useMemo(() => debounce((v) => setQuery(v), 250), []);
  const searchRef = useRef(null);
  // "/" jumps to the search box (unless typing somewhere already).
  useEffect(() => {
    const onKey = (e) => {
      if (e.key !== '/' || e.ctrlKey || e.metaKey || /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? '')) return;
      e.preventDefault();
      searchRef.current?.focus();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  async function load({ append = false, keepCount = false } = {}) {
    const my = ++seq.current;
    setLoading(true);
    try {
      const limit = keepCount ? Math.min(200, Math.max(50, count.current)) : 50;
      const p = listQuery(state, limit);
      if (append && nextCursor) p.cursor = nextCursor;
      const res = await get(`/api/tickets${qs(p)}`);
      if (my !== seq.current) return;
      const next = append ? [...(items ?? []), ...res.items] : res.items;
      count.current = next.length;
      setItems(next);
      setNextCursor(res.nextCursor);
      setError(null);
      onItems?.(next);
    } catch (err) {
      if (my === seq.current) setError(err instanceof ApiError ? err : new ApiError(0, 'client', err.message));
    } finally {
      if (my === seq.current) setLoading(false);
    }
  }

  useEffect(() => {
    count.current = 50;
    load();
  }, [key]);

  // Live: any ticket or message event refreshes what is on screen.
  const refresh = useRef(null);
  refresh.current = () => load({ keepCount: true });
  useEffect(() => {
    const d = debounce(() => refresh.current(), 150);
    const off = bus.on((e) => {
      // Messages change nothing the list shows unless their ticket is on screen.
      if (e.type.startsWith('message.') && !shown.current.has(e.ticketId)) return;
      if (e.type === 'connected' || e.type.startsWith('ticket.') || e.type.startsWith('message.') || e.type.startsWith('sla.')) d();
    });
    return () => {
      off();
      d.cancel();
    };
  }, []);

  const setFilter = (k, v) => setFilters((f) => ({ ...f, [k]: v }));
  const activeFilters = Object.values(filters).filter(Boolean).length;

  // A new column sorts newest-first for dates, most urgent first otherwise; a second click reverses.
  const toggleSort = (col) => setSort((s) => (s === col ? `-${col}` : s === `-${col}` ? col : col === 'createdAt' ? '-createdAt' : col));

  const agents = lookups.agents ?? [];
  const option = (v, text) => html`<option value=${v}>${text}</option>`;
  const select = (k, text, options) => html`
    <label class="field">
      <span>${text}</span>
      <select value=${filters[k]} onChange=${(e) => setFilter(k, e.currentTarget.value)}>
        <option value="">Any</option>
        ${options}
      </select>
    </label>`;

  return html`
    <section class="list-pane" aria-labelledby="list-title">
      <div class="list-head">
        <h1 id="list-title" class="visually-hidden">Tickets</h1>
        <nav class="views" aria-label="Ticket views">
          ${VIEWS.map(([v, text]) => html`
            <button type="button" class=${`view ${view === v ? 'on' : ''}`} aria-pressed=${view === v} onClick=${() => setView(v)}>${text}</button>`)}
        </nav>
        <div class="search-row">
          <label class="search">
            <span class="visually-hidden">Search tickets by subject, id or customer</span>
            <input type="search" ref=${searchRef} placeholder="Search subject, id, customer… (press /)" value=${q}
              onInput=${(e) => { setQ(e.currentTarget.value); commitQ(e.currentTarget.value); }} />
          </label>
          <button type="button" class="secondary" aria-expanded=${showFilters} aria-controls="filters" onClick=${() => setShowFilters(!showFilters)}>
            Filters${activeFilters ? ` (${activeFilters})` : ''}
          </button>
        </div>
        <div id="filters" class="filters" hidden=${!showFilters}>
          ${select('status', 'Status', STATUSES.map((s) => option(s, label(s))))}
          ${select('type', 'Type', ['bot', 'agent'].map((s) => option(s, label(s))))}
          ${select('channel', 'Channel', CHANNELS.map((s) => option(s, label(s))))}
          ${select('priority', 'Priority', PRIORITIES.map((s) => option(s, label(s))))}
          ${select('category', 'Category', (lookups.categories ?? []).map((c) => option(c, c)))}
          ${select('assignee', 'Assignee', [option('me', 'Me'), option('none', 'Nobody'), ...agents.filter((a) => a.id !== me.id).map((a) => option(a.id, a.name))])}
          ${lookups.teams ? select('team', 'Team', lookups.teams.map((t) => option(t.id, t.name))) : null}
          ${select('sla', 'SLA', SLA_STATES.map((s) => option(s, label(s))))}
          ${activeFilters ? html`<button type="button" class="link" onClick=${() => setFilters({ ...EMPTY_FILTERS })}>Clear filters</button>` : null}
        </div>
      </div>
      <${ErrorNote} error=${error} />
      <div class="table-wrap">
        <table class="tickets" aria-busy=${loading} aria-describedby="list-status">
          <thead>
            <tr>
              ${COLUMNS.map((c) => {
                const dir = sort === c.sort ? 'ascending' : sort === `-${c.sort}` ? 'descending' : null;
                return html`
                  <th scope="col" class=${`col-${c.key} ${c.optional ? 'col-opt' : ''}`} aria-sort=${c.sort ? dir ?? 'none' : undefined}>
                    ${c.sort
                      ? html`<button type="button" class="sort" onClick=${() => toggleSort(c.sort)}>
                          ${c.label}<span aria-hidden="true" class="arrow">${dir === 'ascending' ? '▲' : dir === 'descending' ? '▼' : '↕'}</span>
                        </button>`
                      : c.label}
                  </th>`;
              })}
            </tr>
          </thead>
          <tbody onKeyDown=${moveFocus}>
            ${(items ?? []).map((t) => html`<${Row} key=${t.id} t=${t} selected=${t.id === selectedId} unread=${unread.has(t.id)} />`)}
          </tbody>
        </table>
        <p id="list-status" class="list-status" role="status">
          ${items === null ? 'Loading tickets…' : items.length ? `${items.length} ticket${items.length === 1 ? '' : 's'}${nextCursor ? ' (more below)' : ''}` : 'No tickets match.'}
        </p>
        ${nextCursor ? html`<button type="button" class="secondary more" onClick=${() => load({ append: true })} disabled=${loading}>Load more</button>` : null}
      </div>
    </section>`;
}

/** Arrow keys move between the tickets' links (Enter opens one). */
function moveFocus(e) {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  const links = [...e.currentTarget.querySelectorAll('a.subject')];
  const i = links.indexOf(document.activeElement);
  if (i < 0) return;
  e.preventDefault();
  links[Math.max(0, Math.min(links.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))].focus();
}

function Row({ t, selected, unread }) {
  return html`
    <tr class=${`${selected ? 'selected' : ''} ${unread ? 'unread' : ''}`} data-ticket=${t.id} aria-current=${selected ? 'true' : undefined}>
      <td class="col-subject">
        <a href=${`#/t/${t.id}`} class="subject">
          ${unread ? html`<span class="dot" aria-hidden="true"></span><span class="visually-hidden">Unread: </span>` : null}
          ${t.subject || '(no subject)'}
        </a>
        <div class="sub"><span class=${`chan chan-${t.channel}`}>${label(t.channel)}</span> · <span class="mono">${t.id}</span> · ${contactLine(t)}</div>
      </td>
      <td class="col-priority"><span class=${`prio prio-${t.priority}`}>${label(t.priority)}</span></td>
      <td class="col-status"><${StatusBadge} status=${t.status} /></td>
      <td class="col-type col-opt"><span class=${`type type-${t.type}`}>${label(t.type)}</span></td>
      <td class="col-assignee">${t.assignee?.name ?? html`<span class="muted">Unassigned</span>`}</td>
      <td class="col-createdAt col-opt"><time datetime=${t.createdAt} title=${dateTime(t.createdAt)}>${timeAgo(t.createdAt)}</time></td>
      <td class="col-sla"><${SlaBadge} sla=${t.sla} /></td>
    </tr>`;
}
