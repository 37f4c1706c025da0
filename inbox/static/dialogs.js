// Dialogs: create a ticket (internal task, outbound message, or linked to a
// conversation) and export tickets (date range + filters, CSV/JSON, with progress).

import { html } from './html.js';
import { useEffect, useState } from 'preact/hooks';
import { api, qs } from './api.js';
import { PRIORITIES, STATUSES, fillTemplate, label, templateParamCount } from './model.js';
import { Dialog, ErrorNote } from './ui.js';

const TO_LABEL = { whatsapp: 'Phone number (international, digits only)', instagram: 'Instagram user id (IGSID)', email: 'Email address' };

export function CreateTicketDialog({ open, linked, onClose, lookups, me }) {
  const [chosenMode, setMode] = useState('task');
  // Until the reset below runs on opening, a stale "linked" choice must not outlive its ticket.
  const mode = chosenMode === 'linked' && !linked ? 'task' : chosenMode;
  const [f, setF] = useState({});
  const [error, setError] = useState(null);
  const [duplicate, setDuplicate] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!open) return;
    setMode(linked ? 'linked' : 'task');
    setF({ priority: 'medium', channel: 'whatsapp', subject: linked ? `Follow-up: ${linked.subject}` : '', assigneeId: linked ? me.id : '' });
    setError(null);
    setDuplicate(false);
  }, [open, linked?.id]);

  const set = (k) => (e) => setF((x) => ({ ...x, [k]: e.currentTarget.type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value }));
  const approved = (lookups.templates ?? []).filter((x) => x.status === 'approved');
  const tpl = approved.find((x) => `${x.name}|${x.language}` === f.template) ?? approved[0];
  const useTpl = mode === 'outbound' && f.channel === 'whatsapp' && f.useTemplate !== false && !!tpl;

  async function submit(e, force = false) {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    const body = {
      ...(f.subject?.trim() ? { subject: f.subject } : {}),
      ...(f.description ? { description: f.description } : {}),
      priority: f.priority,
      ...(f.category ? { category: f.category } : {}),
      ...(f.assigneeId && mode !== 'outbound' ? { assigneeId: f.assigneeId } : {}),
      ...(f.teamId ? { teamId: f.teamId } : {}),
      tags: (f.tags ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    };
    if (mode === 'outbound') {
      body.channel = f.channel;
      body.to = (f.to ?? '').trim();
      if (f.name?.trim()) body.name = f.name.trim();
      body.message = useTpl
        ? { template: { name: tpl.name, language: tpl.language, params: Array.from({ length: templateParamCount(tpl.body) }, (_, i) => f[`p${i}`] ?? '') } }
        : { text: f.text ?? '' };
    }
    if (mode === 'linked') {
      body.linkedTicketId = linked.id;
      if (force) body.force = true;
    }
    try {
      const t = await api('POST', '/api/tickets', body);
      onClose();
      location.hash = `#/t/${t.id}`;
    } catch (err) {
      setError(err);
      setDuplicate(err.code === 'duplicate_ticket');
    } finally {
      setBusy(false);
    }
  }

  // Closed: render the empty <dialog> only (the form below expects `linked` while in that mode).
  if (!open) return html`<${Dialog} open=${false} title="New ticket" onClose=${onClose} />`;
  const modes = [['task', 'Internal task'], ['outbound', 'Message a customer'], ...(linked ? [['linked', `From ${linked.id}`]] : [])];
  return html`
    <${Dialog} open=${open} title="New ticket" onClose=${onClose}>
      <form onSubmit=${submit} class="stack">
        <fieldset class="segmented">
          <legend>Kind</legend>
          ${modes.map(([v, text]) => html`
            <label><input type="radio" name="mode" value=${v} checked=${mode === v} onChange=${() => setMode(v)} /> ${text}</label>`)}
        </fieldset>
        ${mode === 'linked' ? html`<p class="hint">Linked to ${linked.id} (${linked.contact?.name ?? label(linked.channel)}). The description is pre-filled with the customer's name, channel and recent messages.</p>` : null}
        ${mode === 'outbound' ? html`
          <p class="hint">The ticket starts as <em>proactive</em>, assigned to you, until the customer answers.</p>
          <div class="row">
            <label class="field"><span>Channel</span>
              <select value=${f.channel} onChange=${set('channel')}>
                ${['whatsapp', 'instagram', 'email'].map((c) => html`<option value=${c}>${label(c)}</option>`)}
              </select>
            </label>
            <label class="field grow"><span>${TO_LABEL[f.channel]}</span>
              <input required value=${f.to ?? ''} onInput=${set('to')} type=${f.channel === 'email' ? 'email' : 'text'} />
            </label>
          </div>
          <label class="field"><span>Customer name (optional)</span><input value=${f.name ?? ''} onInput=${set('name')} /></label>
          ${f.channel === 'whatsapp' ? html`<p class="hint">WhatsApp lets a business start a conversation only with an approved template.</p>` : null}
          ${f.channel === 'instagram' ? html`<p class="hint">Instagram only allows a message within 7 days of the customer's last message.</p>` : null}
          ${useTpl ? html`
            <label class="field"><span>Template</span>
              <select value=${`${tpl.name}|${tpl.language}`} onChange=${set('template')}>
                ${approved.map((x) => html`<option value=${`${x.name}|${x.language}`}>${x.name} (${x.language})</option>`)}
              </select>
            </label>
            ${Array.from({ length: templateParamCount(tpl.body) }, (_, i) => html`
              <label class="field"><span>Parameter {{${i + 1}}}</span><input required value=${f[`p${i}`] ?? ''} onInput=${set(`p${i}`)} /></label>`)}
            <p class="preview"><span class="muted">Preview: </span>${fillTemplate(tpl.body, Array.from({ length: 10 }, (_, i) => f[`p${i}`]))}</p>`
          : html`
            <label class="field"><span>Message</span><textarea rows="3" required value=${f.text ?? ''} onInput=${set('text')}></textarea></label>`}` : null}
        <label class="field"><span>Subject${mode === 'outbound' && f.channel !== 'email' ? ' (optional)' : ''}</span>
          <input required=${mode !== 'outbound' || f.channel === 'email'} value=${f.subject ?? ''} onInput=${set('subject')}
            placeholder=${mode === 'outbound' ? 'From the message when empty' : ''} /></label>
        ${mode !== 'linked' ? html`<label class="field"><span>Description</span><textarea rows="3" value=${f.description ?? ''} onInput=${set('description')}></textarea></label>` : null}
        <div class="row">
          <label class="field"><span>Priority</span>
            <select value=${f.priority} onChange=${set('priority')}>${PRIORITIES.map((p) => html`<option value=${p}>${label(p)}</option>`)}</select>
          </label>
          ${mode !== 'outbound' ? html`
          <label class="field"><span>Assignee</span>
            <select value=${f.assigneeId ?? ''} onChange=${set('assigneeId')}>
              <option value="">Unassigned (queue)</option>
              ${(lookups.agents ?? []).map((a) => html`<option value=${a.id}>${a.name}${a.id === me.id ? ' (me)' : ''}</option>`)}
            </select>
          </label>` : null}
          ${lookups.categories ? html`
            <label class="field"><span>Category</span>
              <select value=${f.category ?? ''} onChange=${set('category')}><option value="">None</option>${lookups.categories.map((c) => html`<option value=${c}>${c}</option>`)}</select>
            </label>` : null}
          ${lookups.teams ? html`
            <label class="field"><span>Team</span>
              <select value=${f.teamId ?? ''} onChange=${set('teamId')}><option value="">None</option>${lookups.teams.map((x) => html`<option value=${x.id}>${x.name}</option>`)}</select>
            </label>` : null}
        </div>
        <label class="field"><span>Tags</span><input value=${f.tags ?? ''} placeholder="comma, separated" onInput=${set('tags')} /></label>
        <${ErrorNote} error=${error} />
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
          ${duplicate ? html`<button type="button" class="secondary" onClick=${(e) => submit(e, true)} disabled=${busy}>Create anyway</button>` : null}
          <button type="submit" class="primary" disabled=${busy}>Create ticket</button>
        </div>
      </form>
    <//>`;
}

export function ExportDialog({ open, onClose, lookups }) {
  const [f, setF] = useState({ format: 'csv' });
  const [progress, setProgress] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (open) {
      setProgress('');
      setError(null);
    }
  }, [open]);
  const set = (k) => (e) => setF((x) => ({ ...x, [k]: e.currentTarget.value }));

  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setProgress('Preparing…');
    try {
      const params = {
        format: f.format,
        from: f.from ? new Date(`${f.from}T00:00:00`).toISOString() : '',
        // The day picked as "to" is included: the API's `to` is exclusive.
        to: f.to ? new Date(new Date(`${f.to}T00:00:00`).getTime() + 86_400_000).toISOString() : '',
        status: f.status, channel: f.channel, priority: f.priority, category: f.category,
      };
      const res = await api('GET', `/api/tickets/export${qs(params)}`, undefined, { raw: true });
      // Streamed by the gateway: count bytes as they arrive.
      const reader = res.body.getReader();
      const chunks = [];
      let bytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        bytes += value.length;
        setProgress(`Downloading… ${(bytes / 1024).toFixed(0)} KB`);
      }
      const blob = new Blob(chunks, { type: f.format === 'csv' ? 'text/csv' : 'application/json' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `tickets-${new Date().toISOString().slice(0, 10)}.${f.format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      setProgress(`Done: ${(bytes / 1024).toFixed(1)} KB downloaded.`);
    } catch (err) {
      setProgress('');
      setError(err.status === 404 ? new Error(`Export is not available on this gateway (${err.message}).`) : err);
    } finally {
      setBusy(false);
    }
  }

  const sel = (k, text, values, lab = label) => html`
    <label class="field"><span>${text}</span>
      <select value=${f[k] ?? ''} onChange=${set(k)}><option value="">Any</option>${values.map((v) => html`<option value=${v}>${lab(v)}</option>`)}</select>
    </label>`;
  return html`
    <${Dialog} open=${open} title="Export tickets" onClose=${onClose}>
      <form onSubmit=${submit} class="stack">
        <div class="row">
          <label class="field"><span>From (created)</span><input type="date" value=${f.from ?? ''} onInput=${set('from')} /></label>
          <label class="field"><span>To (inclusive)</span><input type="date" value=${f.to ?? ''} onInput=${set('to')} /></label>
        </div>
        <div class="row">
          ${sel('status', 'Status', STATUSES)}
          ${sel('channel', 'Channel', ['whatsapp', 'instagram', 'email', 'internal'])}
          ${sel('priority', 'Priority', PRIORITIES)}
          ${lookups.categories ? sel('category', 'Category', lookups.categories, (c) => c) : null}
        </div>
        <fieldset class="segmented">
          <legend>Format</legend>
          <label><input type="radio" name="format" value="csv" checked=${f.format === 'csv'} onChange=${set('format')} /> CSV (spreadsheets)</label>
          <label><input type="radio" name="format" value="json" checked=${f.format === 'json'} onChange=${set('format')} /> JSON</label>
        </fieldset>
        <p class="hint">Includes every field, comments, status history and SLA data; internal notes only if you may read them.</p>
        <p role="status" class="progress">${progress}</p>
        <${ErrorNote} error=${error} />
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick=${onClose}>Close</button>
          <button type="submit" class="primary" disabled=${busy}>Download</button>
        </div>
      </form>
    <//>`;
}
