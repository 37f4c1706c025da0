// The reply composer. It knows the channel's window (SPEC §3.7): free text with the
// time left; outside the WhatsApp window only approved templates (with their
// parameters); Instagram after 24 h in "human agent" mode up to 7 days; a refused
// send shows the API's reason.

import { html } from './html.js';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { dateTime, fillTemplate, humanDuration, replyWindow, templateParamCount } from './model.js';
import { ErrorNote } from './ui.js';

/** Re-renders every `ms` so "time left" stays true. */
function useNow(ms = 30_000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function Composer({ t, templates, onChanged, onTakeover, busy }) {
  const now = useNow();
  const [text, setText] = useState('');
  const [files, setFiles] = useState([]);
  const [error, setError] = useState(null);
  const [sending, setSending] = useState(false);
  const [useTemplate, setUseTemplate] = useState(false);
  const [sentNote, setSentNote] = useState('');
  // Bumped to give the file input a fresh (empty) element after a send.
  const [fileKey, setFileKey] = useState(0);
  useEffect(() => {
    setText('');
    setFiles([]);
    setFileKey((k) => k + 1);
    setError(null);
    setUseTemplate(false);
    setSentNote('');
  }, [t.id]);

  if (t.type === 'bot' && t.status === 'active') {
    return html`
      <div class="composer notice" role="region" aria-label="Reply">
        <p>The bot is answering this conversation. Take it over to reply yourself.</p>
        <button type="button" class="primary" disabled=${busy} onClick=${onTakeover}>Take over</button>
      </div>`;
  }

  const win = replyWindow(t, now);
  if (win.mode === 'internal') return null;
  if (win.mode === 'ticket_closed') {
    return html`<div class="composer notice" role="region" aria-label="Reply"><p>This ticket is closed. The customer's next message opens a new ticket, answered by the bot first.</p></div>`;
  }
  if (win.mode === 'closed') {
    return html`
      <div class="composer notice warn" role="region" aria-label="Reply">
        <p><strong>The Instagram window is closed.</strong> The customer last wrote more than 7 days ago${win.since ? ` (window ended ${dateTime(new Date(win.since).toISOString())})` : ''};
        Instagram allows no message until they write again.</p>
      </div>`;
  }

  async function send(body) {
    setSending(true);
    setError(null);
    setSentNote('');
    try {
      const m = await api('POST', `/api/tickets/${t.id}/messages`, body);
      setText('');
      setFiles([]);
      setFileKey((k) => k + 1);
      setSentNote(`Message ${m?.status ?? 'queued'}.`);
      await onChanged();
      return true;
    } catch (err) {
      setError(err);
      // The gateway's clock decides: if it says a template is needed, offer them.
      if (err.code === 'template_required') setUseTemplate(true);
      return false;
    } finally {
      setSending(false);
    }
  }

  const sendText = (e) => {
    e?.preventDefault();
    if (!text.trim() && !files.length) return;
    if (files.length) {
      const form = new FormData();
      form.set('text', text);
      for (const f of files) form.append('attachments', f);
      return send(form);
    }
    return send({ text });
  };

  const templateMode = win.mode === 'template' || useTemplate;
  const header = win.mode === 'template'
    ? html`<p class="window warn" data-window="template"><strong>The 24-hour WhatsApp window is closed.</strong> Only an approved template can be sent until the customer writes again.</p>`
    : win.mode === 'human_agent'
      ? html`<p class="window warn" data-window="human_agent"><strong>Human agent mode.</strong> The customer wrote more than 24 h ago: your message goes with Instagram's HUMAN_AGENT tag, possible for ${humanDuration(win.until - now)} more.</p>`
      : html`<p class="window ok" data-window="free">${win.until
          ? html`Reply window open: <strong>${humanDuration(win.until - now)}</strong> left.`
          : t.channel === 'email' ? 'Email: no reply window.' : 'Reply window open.'}</p>`;

  return html`
    <div class="composer" role="region" aria-label="Reply to the customer">
      ${header}
      ${templateMode
        ? html`<${TemplateForm} templates=${templates} sending=${sending} onSend=${(tpl) => send({ template: tpl })} />
          ${win.mode !== 'template' ? html`<button type="button" class="link" onClick=${() => setUseTemplate(false)}>Write free text instead</button>` : null}`
        : html`
          <form onSubmit=${sendText}>
            <label class="field grow"><span>Reply</span>
              <textarea rows="3" value=${text} placeholder="Write a reply… (Ctrl+Enter sends)" disabled=${sending}
                onInput=${(e) => setText(e.currentTarget.value)}
                onKeyDown=${(e) => (e.ctrlKey || e.metaKey) && e.key === 'Enter' && sendText(e)}></textarea>
            </label>
            <div class="composer-row">
              <label class="file"><span>Attach files</span>
                <input type="file" multiple key=${fileKey} onChange=${(e) => setFiles([...e.currentTarget.files])} />
              </label>
              ${t.channel === 'whatsapp' && templates?.length ? html`<button type="button" class="link" onClick=${() => setUseTemplate(true)}>Use a template</button>` : null}
              <button type="submit" class="primary" disabled=${sending || (!text.trim() && !files.length)}>Send</button>
            </div>
          </form>`}
      <${ErrorNote} error=${error} />
      <p class="visually-hidden" role="status">${sentNote}</p>
    </div>`;
}

function TemplateForm({ templates, sending, onSend }) {
  const approved = (templates ?? []).filter((x) => x.status === 'approved');
  const [name, setName] = useState('');
  const [params, setParams] = useState([]);
  const tpl = approved.find((x) => `${x.name}|${x.language}` === name) ?? approved[0];
  useEffect(() => setParams([]), [name]);
  if (templates === null || templates === undefined) {
    return html`<p class="muted">This gateway has no templates list; ask an admin to configure approved WhatsApp templates.</p>`;
  }
  if (!approved.length) return html`<p class="muted">No approved templates yet. An admin can add them under Settings → Templates.</p>`;
  const n = templateParamCount(tpl.body);
  const submit = (e) => {
    e.preventDefault();
    onSend({ name: tpl.name, language: tpl.language, params: Array.from({ length: n }, (_, i) => params[i] ?? '') });
  };
  return html`
    <form class="template-form" onSubmit=${submit}>
      <label class="field"><span>Template</span>
        <select value=${`${tpl.name}|${tpl.language}`} onChange=${(e) => setName(e.currentTarget.value)}>
          ${approved.map((x) => html`<option value=${`${x.name}|${x.language}`}>${x.name} (${x.language})</option>`)}
        </select>
      </label>
      ${Array.from({ length: n }, (_, i) => html`
        <label class="field"><span>Parameter {{${i + 1}}}</span>
          <input required value=${params[i] ?? ''} onInput=${(e) => {
            const next = [...params];
            next[i] = e.currentTarget.value;
            setParams(next);
          }} />
        </label>`)}
      <p class="preview" aria-label="Preview"><span class="muted">Preview: </span>${fillTemplate(tpl.body, params)}</p>
      <button type="submit" class="primary" disabled=${sending}>Send template</button>
    </form>`;
}
