// Admin settings: SLA and automations (/api/settings), triggers, teams, categories,
// WhatsApp templates, agents and channel status. A page whose route the gateway
// doesn't offer (404) is not shown.

import { html } from './html.js';
import { useEffect, useState } from 'preact/hooks';
import { api, get, optional } from './api.js';
import { PRIORITIES, label } from './model.js';
import { ErrorNote } from './ui.js';

const PAGES = [
  { id: 'sla', label: 'SLA & automations', probe: '/api/settings' },
  { id: 'triggers', label: 'Triggers', probe: '/api/triggers' },
  { id: 'teams', label: 'Teams', probe: '/api/teams' },
  { id: 'categories', label: 'Categories', probe: '/api/categories' },
  { id: 'templates', label: 'Templates', probe: '/api/templates' },
  { id: 'agents', label: 'Agents', probe: '/api/agents' },
  { id: 'channels', label: 'Channels', probe: '/api/channels' },
];

export function Settings({ page, me, onLookupsChanged }) {
  const [available, setAvailable] = useState(null);
  useEffect(() => {
    Promise.all(PAGES.map((p) => optional(p.probe).then((v) => (v === null ? null : p.id), () => p.id))).then((ids) => setAvailable(ids.filter(Boolean)));
  }, []);
  if (me.role !== 'admin') return html`<section class="settings"><h1>Settings</h1><p>Only admins can change settings.</p></section>`;
  if (!available) return html`<section class="settings"><p class="muted">Loading settings…</p></section>`;
  const pages = PAGES.filter((p) => available.includes(p.id));
  const current = pages.find((p) => p.id === page) ?? pages[0];
  const Page = { sla: SlaPage, triggers: TriggersPage, teams: TeamsPage, categories: CategoriesPage, templates: TemplatesPage, agents: AgentsPage, channels: ChannelsPage }[current.id];
  return html`
    <section class="settings" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <div class="settings-grid">
        <nav aria-label="Settings pages" class="settings-nav">
          <ul>${pages.map((p) => html`<li><a href=${`#/settings/${p.id}`} aria-current=${p.id === current.id ? 'page' : undefined}>${p.label}</a></li>`)}</ul>
        </nav>
        <div class="settings-page"><h2>${current.label}</h2><${Page} me=${me} onChanged=${onLookupsChanged} /></div>
      </div>
    </section>`;
}

/** Shows what a save did (role=status so screen readers hear it). */
function useSaver(onChanged) {
  const [error, setError] = useState(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const run = async (fn, done = 'Saved.') => {
    setBusy(true);
    setError(null);
    setStatus('');
    try {
      const r = await fn();
      setStatus(done);
      onChanged?.();
      return r;
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  const view = html`<${ErrorNote} error=${error} /><p role="status" class="saved">${status}</p>`;
  return { run, busy, view };
}

const KNOWN = ['sla', 'slaWarningPercent', 'autoCloseAfter', 'idleAfter', 'idleCloseAfter', 'onHoldReturnAfter', 'fallbackLimit', 'botChannels', 'outOfOfficeMessage', 'businessHours'];
const DURATIONS = [
  ['autoCloseAfter', 'Close resolved tickets after', '1 hour to 28 days'],
  ['idleAfter', 'Mark idle when the customer is silent for', ''],
  ['idleCloseAfter', 'Close idle tickets after', ''],
  ['onHoldReturnAfter', 'Return on-hold tickets to the queue after', ''],
];

function SlaPage({ onChanged }) {
  const [s, setS] = useState(null);
  const [draft, setDraft] = useState({});
  const saver = useSaver(onChanged);
  const load = () => get('/api/settings').then((v) => {
    setS(v);
    setDraft({
      ...v,
      businessHours: v.businessHours ? JSON.stringify(v.businessHours, null, 2) : '',
      ...Object.fromEntries(Object.keys(v).filter((k) => !KNOWN.includes(k)).map((k) => [k, JSON.stringify(v[k], null, 2)])),
    });
  });
  useEffect(() => void load(), []);
  if (!s) return html`<p class="muted">Loading…</p>`;
  const set = (k, v) => setDraft((d) => ({ ...d, [k]: v }));
  const setSla = (p, k, v) => setDraft((d) => ({ ...d, sla: { ...d.sla, [p]: { ...(d.sla?.[p] ?? { firstResponse: '', resolution: '' }), [k]: v } } }));
  const extra = Object.keys(s).filter((k) => !KNOWN.includes(k));

  const save = (e) => {
    e.preventDefault();
    saver.run(async () => {
      const sla = {};
      for (const p of PRIORITIES) {
        const t = draft.sla?.[p];
        sla[p] = t && (t.firstResponse || t.resolution) ? { firstResponse: t.firstResponse, resolution: t.resolution } : null;
      }
      const body = {
        sla,
        slaWarningPercent: Number(draft.slaWarningPercent),
        ...Object.fromEntries(DURATIONS.map(([k]) => [k, draft[k]])),
        fallbackLimit: Number(draft.fallbackLimit),
        botChannels: draft.botChannels,
        outOfOfficeMessage: draft.outOfOfficeMessage,
      };
      try {
        body.businessHours = draft.businessHours.trim() ? JSON.parse(draft.businessHours) : null;
        for (const k of extra) body[k] = JSON.parse(draft[k]);
      } catch (err) {
        throw new Error(`A JSON field is not valid JSON: ${err.message}`);
      }
      await api('PUT', '/api/settings', body);
      await load();
    });
  };

  return html`
    <form onSubmit=${save} class="stack">
      <fieldset>
        <legend>SLA targets per priority</legend>
        <p class="hint">Durations like <code>90s</code>, <code>30m</code>, <code>4h</code>, <code>2d</code>. Leave both empty for no target.</p>
        <table class="grid">
          <thead><tr><th scope="col">Priority</th><th scope="col">First response</th><th scope="col">Resolution</th></tr></thead>
          <tbody>
            ${PRIORITIES.map((p) => html`
              <tr>
                <th scope="row">${label(p)}</th>
                <td><input aria-label=${`${label(p)} first response`} value=${draft.sla?.[p]?.firstResponse ?? ''} onInput=${(e) => setSla(p, 'firstResponse', e.currentTarget.value)} size="6" /></td>
                <td><input aria-label=${`${label(p)} resolution`} value=${draft.sla?.[p]?.resolution ?? ''} onInput=${(e) => setSla(p, 'resolution', e.currentTarget.value)} size="6" /></td>
              </tr>`)}
          </tbody>
        </table>
        <label class="field"><span>Warn (yellow) at % of a target</span>
          <input type="number" min="1" max="99" value=${draft.slaWarningPercent} onInput=${(e) => set('slaWarningPercent', e.currentTarget.value)} />
        </label>
      </fieldset>
      <fieldset>
        <legend>Automations</legend>
        ${DURATIONS.map(([k, text, hint]) => html`
          <label class="field"><span>${text}${hint ? html` <span class="muted">(${hint})</span>` : null}</span>
            <input value=${draft[k] ?? ''} onInput=${(e) => set(k, e.currentTarget.value)} size="8" />
          </label>`)}
        <label class="field"><span>Hand to an agent after this many misunderstood inputs</span>
          <input type="number" min="1" max="10" value=${draft.fallbackLimit} onInput=${(e) => set('fallbackLimit', e.currentTarget.value)} />
        </label>
        <fieldset class="segmented">
          <legend>Bot answers first on</legend>
          ${['whatsapp', 'instagram', 'email'].map((c) => html`
            <label><input type="checkbox" checked=${(draft.botChannels ?? []).includes(c)}
              onChange=${(e) => set('botChannels', e.currentTarget.checked ? [...(draft.botChannels ?? []), c] : draft.botChannels.filter((x) => x !== c))} /> ${label(c)}</label>`)}
        </fieldset>
        <label class="field"><span>Out-of-office message (sent after a handoff when no agent is online)</span>
          <textarea rows="2" value=${draft.outOfOfficeMessage} onInput=${(e) => set('outOfOfficeMessage', e.currentTarget.value)}></textarea>
        </label>
        <label class="field"><span>Business hours (JSON, empty for always)</span>
          <textarea rows="3" class="mono" value=${draft.businessHours} onInput=${(e) => set('businessHours', e.currentTarget.value)}></textarea>
        </label>
      </fieldset>
      ${extra.length ? html`
        <fieldset>
          <legend>More settings</legend>
          ${extra.map((k) => html`
            <label class="field"><span class="mono">${k}</span>
              <textarea rows=${Math.min(8, String(draft[k]).split('\n').length + 1)} class="mono" value=${draft[k]} onInput=${(e) => set(k, e.currentTarget.value)}></textarea>
            </label>`)}
        </fieldset>` : null}
      ${saver.view}
      <div><button type="submit" class="primary" disabled=${saver.busy}>Save settings</button></div>
    </form>`;
}

/** A JSON-array collection edited as text (triggers): the API validates and explains. */
function TriggersPage({ onChanged }) {
  const [text, setText] = useState(null);
  const [list, setList] = useState([]);
  const saver = useSaver(onChanged);
  const load = () => get('/api/triggers').then((v) => {
    setList(v);
    setText(JSON.stringify(v, null, 2));
  });
  useEffect(() => void load(), []);
  if (text === null) return html`<p class="muted">Loading…</p>`;
  const save = (e) => {
    e.preventDefault();
    saver.run(async () => {
      let value;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new Error(`Not valid JSON: ${err.message}`);
      }
      await api('PUT', '/api/triggers', value);
      await load();
    });
  };
  return html`
    <div class="stack">
      <p class="hint">Triggers run in order after the change that fired them: <code>{name, on, if: [{field, op, value}], then: [...]}</code>.</p>
      ${list.length ? html`<ul>${list.map((t) => html`<li><strong>${t.name}</strong> on <code>${t.on}</code>: ${(t.if ?? []).length} condition(s), ${(t.then ?? []).length} action(s)</li>`)}</ul>` : html`<p class="muted">No triggers.</p>`}
      <form onSubmit=${save} class="stack">
        <label class="field"><span>Triggers (JSON)</span>
          <textarea class="mono" rows="14" value=${text} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
        </label>
        ${saver.view}
        <div><button type="submit" class="primary" disabled=${saver.busy}>Save triggers</button></div>
      </form>
    </div>`;
}

function TeamsPage({ onChanged }) {
  const [teams, setTeams] = useState(null);
  const [agents, setAgents] = useState([]);
  const [name, setName] = useState('');
  const saver = useSaver(onChanged);
  const load = () => Promise.all([get('/api/teams'), get('/api/agents')]).then(([t, a]) => {
    setTeams(t);
    setAgents(a);
  });
  useEffect(() => void load(), []);
  if (!teams) return html`<p class="muted">Loading…</p>`;
  const put = (next) => saver.run(async () => {
    await api('PUT', '/api/teams', next);
    await load();
  });
  const toggle = (team, agentId, on) => put(teams.map((t) => (t.id === team.id ? { ...t, memberIds: on ? [...(t.memberIds ?? []), agentId] : (t.memberIds ?? []).filter((x) => x !== agentId) } : t)));
  return html`
    <div class="stack">
      ${teams.length ? html`
        <table class="grid">
          <thead><tr><th scope="col">Team</th><th scope="col">Members</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            ${teams.map((t) => html`
              <tr>
                <th scope="row">${t.name}</th>
                <td>
                  <fieldset class="segmented plain"><legend class="visually-hidden">Members of ${t.name}</legend>
                    ${agents.map((a) => html`<label><input type="checkbox" checked=${(t.memberIds ?? []).includes(a.id)} onChange=${(e) => toggle(t, a.id, e.currentTarget.checked)} /> ${a.name}</label>`)}
                  </fieldset>
                </td>
                <td><button type="button" class="link danger" onClick=${() => put(teams.filter((x) => x.id !== t.id))}>Remove ${t.name}</button></td>
              </tr>`)}
          </tbody>
        </table>` : html`<p class="muted">No teams yet.</p>`}
      <form class="row" onSubmit=${(e) => { e.preventDefault(); if (name.trim()) put([...teams, { name: name.trim(), memberIds: [] }]).then(() => setName('')); }}>
        <label class="field"><span>New team</span><input value=${name} onInput=${(e) => setName(e.currentTarget.value)} /></label>
        <button type="submit" class="primary" disabled=${saver.busy}>Add team</button>
      </form>
      ${saver.view}
    </div>`;
}

function CategoriesPage({ onChanged }) {
  const [list, setList] = useState(null);
  const [name, setName] = useState('');
  const saver = useSaver(onChanged);
  const load = () => get('/api/categories').then(setList);
  useEffect(() => void load(), []);
  if (!list) return html`<p class="muted">Loading…</p>`;
  const put = (next) => saver.run(async () => {
    await api('PUT', '/api/categories', next);
    await load();
  });
  return html`
    <div class="stack">
      ${list.length ? html`<ul class="chips">${list.map((c) => html`<li>${c} <button type="button" class="icon" aria-label=${`Remove ${c}`} onClick=${() => put(list.filter((x) => x !== c))}>×</button></li>`)}</ul>` : html`<p class="muted">No categories yet.</p>`}
      <form class="row" onSubmit=${(e) => { e.preventDefault(); if (name.trim()) put([...list, name.trim()]).then(() => setName('')); }}>
        <label class="field"><span>New category</span><input value=${name} onInput=${(e) => setName(e.currentTarget.value)} /></label>
        <button type="submit" class="primary" disabled=${saver.busy}>Add category</button>
      </form>
      ${saver.view}
    </div>`;
}

const EMPTY_TEMPLATE = { name: '', language: 'en', category: 'UTILITY', status: 'approved', body: '' };

function TemplatesPage({ onChanged }) {
  const [list, setList] = useState(null);
  const [draft, setDraft] = useState(EMPTY_TEMPLATE);
  const saver = useSaver(onChanged);
  const load = () => get('/api/templates').then(setList);
  useEffect(() => void load(), []);
  if (!list) return html`<p class="muted">Loading…</p>`;
  const put = (next) => saver.run(async () => {
    await api('PUT', '/api/templates', next);
    await load();
    return true;
  });
  const set = (k) => (e) => setDraft((d) => ({ ...d, [k]: e.currentTarget.value }));
  const add = async (e) => {
    e.preventDefault();
    const rest = list.filter((t) => !(t.name === draft.name && t.language === draft.language));
    if (await put([...rest, draft])) setDraft(EMPTY_TEMPLATE);
  };
  return html`
    <div class="stack">
      <p class="hint">Approved WhatsApp message templates (as approved in Meta's WhatsApp Manager). Only <em>approved</em> ones can be sent; <code>{{1}}</code> marks a parameter.</p>
      ${list.length ? html`
        <table class="grid">
          <thead><tr><th scope="col">Name</th><th scope="col">Language</th><th scope="col">Category</th><th scope="col">Status</th><th scope="col">Body</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>${list.map((t) => html`
            <tr>
              <th scope="row" class="mono">${t.name}</th><td>${t.language}</td><td>${t.category}</td>
              <td><span class=${`badge tpl-${t.status}`}>${t.status}</span></td><td>${t.body}</td>
              <td>
                <button type="button" class="link" onClick=${() => setDraft({ ...EMPTY_TEMPLATE, ...t })}>Edit</button>
                <button type="button" class="link danger" onClick=${() => put(list.filter((x) => x !== t))}>Remove</button>
              </td>
            </tr>`)}</tbody>
        </table>` : html`<p class="muted">No templates yet.</p>`}
      <form onSubmit=${add} class="stack bordered">
        <h3>Add or update a template</h3>
        <div class="row">
          <label class="field"><span>Name</span><input required pattern="[a-z0-9_]+" title="lowercase letters, digits and _" value=${draft.name} onInput=${set('name')} /></label>
          <label class="field"><span>Language</span><input required value=${draft.language} onInput=${set('language')} size="6" /></label>
          <label class="field"><span>Category</span>
            <select value=${draft.category} onChange=${set('category')}>${['UTILITY', 'MARKETING', 'AUTHENTICATION'].map((c) => html`<option value=${c}>${c.toLowerCase()}</option>`)}</select>
          </label>
          <label class="field"><span>Status</span>
            <select value=${draft.status} onChange=${set('status')}>${['approved', 'pending', 'rejected'].map((c) => html`<option value=${c}>${c}</option>`)}</select>
          </label>
        </div>
        <label class="field"><span>Body</span><textarea required rows="3" value=${draft.body} onInput=${set('body')}></textarea></label>
        <div><button type="submit" class="primary" disabled=${saver.busy}>Save template</button></div>
      </form>
      ${saver.view}
    </div>`;
}

function AgentsPage({ me, onChanged }) {
  const [list, setList] = useState(null);
  const [teams, setTeams] = useState(null);
  const [draft, setDraft] = useState({ name: '', email: '', role: 'agent', notes: false, capacity: 5 });
  const [token, setToken] = useState(null);
  const saver = useSaver(onChanged);
  const load = () => Promise.all([get('/api/agents'), optional('/api/teams')]).then(([a, t]) => {
    setList(a);
    setTeams(t);
  });
  useEffect(() => void load(), []);
  if (!list) return html`<p class="muted">Loading…</p>`;
  const create = (e) => {
    e.preventDefault();
    saver.run(async () => {
      const res = await api('POST', '/api/agents', {
        name: draft.name, ...(draft.email ? { email: draft.email } : {}), role: draft.role,
        permissions: draft.notes ? ['notes'] : [], capacity: Number(draft.capacity),
      });
      setToken({ name: res.name, token: res.token });
      setDraft({ name: '', email: '', role: 'agent', notes: false, capacity: 5 });
      await load();
    }, 'Agent created.');
  };
  const patch = (a, body) => saver.run(async () => {
    await api('PATCH', `/api/agents/${a.id}`, body);
    await load();
  });
  const set = (k) => (e) => setDraft((d) => ({ ...d, [k]: e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value }));
  return html`
    <div class="stack">
      <table class="grid">
        <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Notes permission</th><th scope="col">Capacity</th><th scope="col">Presence</th>${teams ? html`<th scope="col">Teams</th>` : null}</tr></thead>
        <tbody>${list.map((a) => html`
          <tr>
            <th scope="row">${a.name}${a.id === me.id ? ' (you)' : ''}</th>
            <td>${a.email ?? '—'}</td>
            <td>
              <select aria-label=${`Role of ${a.name}`} value=${a.role} disabled=${a.id === me.id} onChange=${(e) => patch(a, { role: e.currentTarget.value })}>
                <option value="agent">agent</option><option value="admin">admin</option>
              </select>
            </td>
            <td><input type="checkbox" aria-label=${`${a.name} may read internal notes`} checked=${(a.permissions ?? []).includes('notes')}
              onChange=${(e) => patch(a, { permissions: e.currentTarget.checked ? ['notes'] : [] })} /></td>
            <td><input type="number" min="0" max="1000" aria-label=${`Capacity of ${a.name}`} value=${a.capacity} size="4"
              onChange=${(e) => patch(a, { capacity: Number(e.currentTarget.value) })} /></td>
            <td><span class=${`presence p-${a.presence}`}>${a.presence}</span></td>
            ${teams ? html`<td>${(a.teamIds ?? []).map((id) => teams.find((t) => t.id === id)?.name ?? id).join(', ') || '—'}</td>` : null}
          </tr>`)}</tbody>
      </table>
      ${token ? html`
        <div class="notice ok" role="alert">
          <p>Token for <strong>${token.name}</strong> (shown only once; give it to them privately):</p>
          <p><code class="token">${token.token}</code></p>
          <button type="button" class="secondary" onClick=${() => navigator.clipboard?.writeText(token.token)}>Copy token</button>
        </div>` : null}
      <form onSubmit=${create} class="stack bordered">
        <h3>Add an agent</h3>
        <div class="row">
          <label class="field"><span>Name</span><input required value=${draft.name} onInput=${set('name')} /></label>
          <label class="field"><span>Email</span><input type="email" value=${draft.email} onInput=${set('email')} /></label>
          <label class="field"><span>Role</span><select value=${draft.role} onChange=${set('role')}><option value="agent">agent</option><option value="admin">admin</option></select></label>
          <label class="field"><span>Capacity</span><input type="number" min="0" max="1000" value=${draft.capacity} onInput=${set('capacity')} size="4" /></label>
        </div>
        <label class="check"><input type="checkbox" checked=${draft.notes} onChange=${set('notes')} /> May read and write internal notes</label>
        <div><button type="submit" class="primary" disabled=${saver.busy}>Create agent</button></div>
      </form>
      ${saver.view}
    </div>`;
}

function ChannelsPage() {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const load = () => get('/api/channels').then(setList, setError);
  useEffect(() => {
    load();
    // A whatsapp-web login QR changes every few seconds while waiting for a scan.
    const timer = setInterval(load, 10_000);
    return () => clearInterval(timer);
  }, []);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!list) return html`<p class="muted">Loading…</p>`;
  return html`
    <div class="stack">
      <table class="grid">
        <thead><tr><th scope="col">Channel</th><th scope="col">Transport</th><th scope="col">Account</th><th scope="col">Status</th><th scope="col">Webhook URL</th><th scope="col">Missing configuration</th></tr></thead>
        <tbody>${list.map((c) => html`
          <tr>
            <th scope="row">${label(c.channel)}</th>
            <td>${c.transport ?? '—'}</td>
            <td class="mono">${c.account ?? '—'}</td>
            <td><span class=${`badge ch-${c.configured ? 'ok' : 'off'}`}>${c.status ?? (c.configured ? 'configured' : 'not configured')}</span></td>
            <td>${c.webhookUrl ? html`<code>${c.webhookUrl}</code>` : '—'}</td>
            <td>${(c.missing ?? []).length ? (c.missing ?? []).map((m) => html`<code>${m}</code> `) : '—'}</td>
          </tr>`)}</tbody>
      </table>
      ${list.filter((c) => c.qr).map((c) => html`
        <div class="notice warn qr">
          <h3>WhatsApp Web login (${c.account ?? c.channel})</h3>
          <p>This session is waiting for a QR login (<code>WHATSAPP_WEB=1</code>): open WhatsApp on the business phone →
          Settings → Linked devices → Link a device, and scan the code below (the gateway's terminal prints it too).
          It changes every few seconds; this page follows.</p>
          <${QrCode} text=${c.qr} />
        </div>`)}
    </div>`;
}

/**
 * The whatsapp-web login QR, drawn as SVG with qrcode-generator (loaded only here). The
 * code is a login secret: it is never sent anywhere else. Without the module the raw
 * string is shown, to scan from the terminal instead.
 */
function QrCode({ text }) {
  const [path, setPath] = useState(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    import('/vendor/qrcode.mjs').then(({ default: qrcode }) => {
      const qr = qrcode(0, 'L');
      qr.addData(text);
      qr.make();
      const n = qr.getModuleCount();
      let d = '';
      for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + 4} ${r + 4}h1v1h-1z`;
      if (live) setPath({ d, size: n + 8 });
    }).catch(() => live && setFailed(true));
    return () => {
      live = false;
    };
  }, [text]);
  if (failed) return html`<pre class="mono qr-code" aria-label="QR login code">${text}</pre>`;
  if (!path) return html`<p class="muted">Drawing the QR code…</p>`;
  return html`
    <svg class="qr" role="img" aria-label="WhatsApp Web login QR code" viewBox=${`0 0 ${path.size} ${path.size}`} width="264" height="264" shape-rendering="crispEdges">
      <rect width="100%" height="100%" fill="#fff" /><path d=${path.d} fill="#000" />
    </svg>`;
}
