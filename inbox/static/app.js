// The agent inbox: sign in with a token, then the ticket list, the open ticket and
// (for admins) settings. Routing is the URL hash: #/ list, #/t/<id> ticket,
// #/settings/<page>.

import { html, render } from './html.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, get, onUnauthorized, optional, session } from './api.js';
import { bus } from './bus.js';
import { connectEvents } from './events.js';
import { TicketList } from './list.js';
import { TicketDetail } from './detail.js';
import { CreateTicketDialog, ExportDialog } from './dialogs.js';
import { Settings } from './settings.js';
import { alertNewWork, askDesktopPermission, loadAlertPrefs, saveAlertPrefs } from './notify.js';

function parseRoute(hash) {
  const m = /^#\/t\/([^/?#]+)/.exec(hash);
  if (m) return { page: 'ticket', id: decodeURIComponent(m[1]) };
  const s = /^#\/settings(?:\/([\w-]+))?/.exec(hash);
  if (s) return { page: 'settings', tab: s[1] ?? null };
  return { page: 'list' };
}

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return parseRoute(hash);
}

function Login({ message, onSignedIn }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(message ? { message } : null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await api('GET', '/api/agents/me', undefined, { token: token.trim() });
      session.set(token.trim());
      onSignedIn(me);
    } catch (err) {
      setError(err.status === 401 ? { message: 'That token is not valid. Ask an admin for your token.' } : err);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="login">
      <form onSubmit=${submit} class="card stack" aria-labelledby="login-title">
        <h1 id="login-title">chatgate inbox</h1>
        <p>Sign in with the token an admin gave you (the first admin's token is <code>ADMIN_TOKEN</code> or printed when the gateway first starts).</p>
        <label class="field"><span>Access token</span>
          <input type="password" autocomplete="current-password" required value=${token} onInput=${(e) => setToken(e.currentTarget.value)} autofocus />
        </label>
        ${error ? html`<p class="error" role="alert">${error.message}</p>` : null}
        <button type="submit" class="primary" disabled=${busy}>Sign in</button>
        <p class="muted small">Trying it out? Open the <a href="/simulator">simulator</a> to chat as a customer.</p>
      </form>
    </main>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [booting, setBooting] = useState(!!session.token);
  const [message, setMessage] = useState(null);
  useEffect(() => {
    if (session.token) {
      get('/api/agents/me')
        .then(setMe)
        .catch((err) => {
          if (err.status !== 401) setMessage(`Could not reach the gateway: ${err.message}`);
        })
        .finally(() => setBooting(false));
    }
    return onUnauthorized(() => {
      session.clear();
      setMe(null);
      setMessage('Your token is no longer valid. Sign in again.');
    });
  }, []);
  if (booting) return html`<p class="boot">Signing in…</p>`;
  if (!me) return html`<${Login} message=${message} onSignedIn=${(u) => { setMessage(null); setMe(u); }} />`;
  return html`<${Shell} me=${me} setMe=${setMe} />`;
}

const UNREAD_KEY = 'chatgate.unread';

function Shell({ me, setMe }) {
  const route = useRoute();
  const [lookups, setLookups] = useState({ agents: [], teams: null, categories: null, templates: null, flows: null });
  const [live, setLive] = useState('connecting');
  const [unread, setUnread] = useState(() => new Set(JSON.parse(localStorage.getItem(UNREAD_KEY) ?? '[]')));
  const [prefs, setPrefs] = useState(loadAlertPrefs);
  const [dialog, setDialog] = useState(null);
  const [simulator, setSimulator] = useState(false);
  const known = useRef(new Map());
  const openId = route.page === 'ticket' ? route.id : null;
  const openRef = useRef(openId);
  openRef.current = openId;
  const prefsRef = useRef(prefs);
  prefsRef.current = prefs;

  const loadLookups = async () => {
    const [agents, teams, categories, templates, flows] = await Promise.all([
      get('/api/agents').catch(() => []),
      optional('/api/teams').catch(() => null),
      optional('/api/categories').catch(() => null),
      optional('/api/templates').catch(() => null),
      optional('/api/flows').catch(() => null),
    ]);
    setLookups({ agents, teams, categories, templates, flows: Array.isArray(flows) ? flows : flows?.flows ?? null });
  };

  useEffect(() => {
    loadLookups();
    fetch('/simulator', { method: 'HEAD' }).then((r) => setSimulator(r.ok), () => undefined);
    const stop = connectEvents(session.token, (e) => {
      bus.emit(e);
      onEvent(e);
    }, (status) => {
      setLive(status);
      if (status === 'live') bus.emit({ type: 'connected' });
    });
    return stop;
  }, []);

  useEffect(() => localStorage.setItem(UNREAD_KEY, JSON.stringify([...unread].slice(-500))), [unread]);
  useEffect(() => {
    if (openId && unread.has(openId)) setUnread((u) => new Set([...u].filter((x) => x !== openId)));
  }, [openId, unread]);

  /** New work: an unread mark, and the optional sound / desktop notification. */
  function onEvent(e) {
    const t = known.current.get(e.ticketId);
    // Customer messages count on agent tickets only: while the bot answers there is nothing to read yet.
    const fresh = (e.type === 'message.created' && e.data?.direction === 'in' && t?.type === 'agent')
      || e.type === 'ticket.handoff'
      || (e.type === 'ticket.created' && e.data?.type !== 'bot');
    if (!fresh || e.ticketId === openRef.current) return;
    setUnread((u) => new Set(u).add(e.ticketId));
    const title = e.type === 'message.created' ? 'New customer message' : 'New ticket for agents';
    alertNewWork(prefsRef.current, title, t ? `${t.subject} (${e.ticketId})` : e.ticketId, e.ticketId);
  }

  const setPresence = async (presence) => {
    try {
      await api('PUT', '/api/agents/me/presence', { presence });
      setMe({ ...me, presence });
    } catch (err) {
      alert(err.message);
    }
  };

  const setPref = async (k, v) => {
    if (k === 'desktop' && v && !(await askDesktopPermission())) v = false;
    const next = { ...prefs, [k]: v };
    setPrefs(next);
    saveAlertPrefs(next);
  };

  const signOut = () => {
    session.clear();
    setMe(null);
  };

  const showList = route.page === 'list' || route.page === 'ticket';
  return html`
    <a class="skip" href="#/" onClick=${(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">chatgate</a>
      <nav aria-label="Main" class="main-nav">
        <a href="#/" aria-current=${showList ? 'page' : undefined}>Tickets</a>
        ${me.role === 'admin' ? html`<a href="#/settings" aria-current=${route.page === 'settings' ? 'page' : undefined}>Settings</a>` : null}
        ${simulator ? html`<a href="/simulator" target="simulator">Simulator ↗</a>` : null}
      </nav>
      <div class="top-actions">
        <button type="button" class="primary" onClick=${() => setDialog({ kind: 'create' })}>New ticket</button>
        <button type="button" class="secondary" onClick=${() => setDialog({ kind: 'export' })}>Export</button>
        <span class=${`live live-${live}`} role="status" title="Live updates">${live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}</span>
        <label class="inline presence-switch"><span class="visually-hidden">My presence</span>
          <select value=${me.presence} onChange=${(e) => setPresence(e.currentTarget.value)} class=${`p-${me.presence}`}>
            <option value="online">● Online</option>
            <option value="away">◐ Away</option>
            <option value="offline">○ Offline</option>
          </select>
        </label>
        <details class="menu">
          <summary>${me.name}</summary>
          <div class="menu-body">
            <p class="muted small">${me.role}${(me.permissions ?? []).length ? ` · ${me.permissions.join(', ')}` : ''}</p>
            <label class="check"><input type="checkbox" checked=${prefs.sound} onChange=${(e) => setPref('sound', e.currentTarget.checked)} /> Sound on new work</label>
            <label class="check"><input type="checkbox" checked=${prefs.desktop} onChange=${(e) => setPref('desktop', e.currentTarget.checked)} /> Desktop notifications</label>
            <button type="button" class="secondary" onClick=${signOut}>Sign out</button>
          </div>
        </details>
      </div>
    </header>
    <main id="main" tabIndex="-1" class=${`layout ${route.page === 'ticket' ? 'with-detail' : ''}`}>
      ${showList ? html`
        <${TicketList} me=${me} lookups=${lookups} selectedId=${openId} unread=${unread}
          onItems=${(items) => items.forEach((t) => known.current.set(t.id, t))} />` : null}
      ${route.page === 'ticket' ? html`
        <${TicketDetail} id=${route.id} me=${me} lookups=${lookups} onCreateLinked=${(t) => setDialog({ kind: 'create', linked: t })} />` : null}
      ${route.page === 'settings' ? html`<${Settings} page=${route.tab} me=${me} onLookupsChanged=${loadLookups} />` : null}
    </main>
    <${CreateTicketDialog} open=${dialog?.kind === 'create'} linked=${dialog?.linked} me=${me} lookups=${lookups} onClose=${() => setDialog(null)} />
    <${ExportDialog} open=${dialog?.kind === 'export'} lookups=${lookups} onClose=${() => setDialog(null)} />`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading…" placeholder
render(html`<${App} />`, root);
