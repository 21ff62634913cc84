// The console's pages, rendered on the server as plain HTML. No inline script or style anywhere (the
// Content-Security-Policy allows only the console's own /assets/), every value escaped.
import type { ChannelLogEntry } from '../../recorder/src/trail/channel-log.js';
import type { SearchHit } from '../../recorder/src/search/query.js';
import type { SessionVerification } from '../../recorder/src/search/verify.js';
import type { Manifest } from '../../recorder/src/trail/manifest.js';
import type { Page, SessionRow } from './catalog.js';
import type { Identity } from './auth.js';
import type { View } from './views.js';

/** HTML-escaped text. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const q = (params: Record<string, string | number | undefined>): string => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s === '' ? '' : `?${s}`;
};

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const when = (iso: string): string => (Number.isNaN(Date.parse(iso)) ? esc(iso) : esc(new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')));

function duration(s: number | undefined): string {
  if (s === undefined) return '';
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function layout(title: string, who: Identity | undefined, body: string, opts: { scripts?: string[]; styles?: string[] } = {}): string {
  const nav =
    who === undefined
      ? ''
      : `<nav><a href="/">Connections</a><a href="/search">Search</a><span class="who">${esc(who.name)}</span><a href="/logout">Log out</a></nav>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · srec console</title>
${(opts.styles ?? []).map((s) => `<link rel="stylesheet" href="${esc(s)}">`).join('')}<link rel="stylesheet" href="/assets/console.css">
</head><body><header><a class="brand" href="/">srec console</a>${nav}</header><main>
${body}
</main>${(opts.scripts ?? []).map((s) => `<script src="${esc(s)}"></script>`).join('')}</body></html>
`;
}

export function loginPage(next: string, error?: string, link?: { readonly href: string; readonly label: string }): string {
  return layout(
    'Log in',
    undefined,
    `<h1>Log in</h1>
${error !== undefined ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form class="login" method="get" action="/login">
<input type="hidden" name="next" value="${esc(next)}">
<label>Token <input type="password" name="token" autocomplete="off" required autofocus></label>
<button type="submit">Log in</button>
</form>
${link !== undefined ? `<p class="sso"><a class="button" href="${esc(link.href)}?next=${esc(encodeURIComponent(next))}">${esc(link.label)}</a></p>` : ''}
<p class="hint">A token from the console's token file, or a Kubernetes bearer token where the console runs in a cluster.</p>`,
  );
}

/** After a single sign-on: a page of the console's own that goes on to `to` (no script: a refresh and a link). */
export function landingPage(to: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${esc(to)}">
<title>Logged in · srec console</title><link rel="stylesheet" href="/assets/console.css">
</head><body><main><p>Logged in. <a href="${esc(to)}">Continue</a></p></main></body></html>
`;
}

export function errorPage(who: Identity | undefined, status: number, message: string): string {
  return layout(String(status), who, `<h1>${status}</h1><p class="error" role="alert">${esc(message)}</p>`);
}

export interface ListQuery {
  readonly user?: string;
  readonly targetUser?: string;
  readonly host?: string;
  readonly from?: string;
  readonly to?: string;
  readonly status?: string;
  readonly transfers?: string;
}

function select(name: string, label: string, current: string | undefined, options: readonly string[], any = 'any'): string {
  return `<label>${esc(label)} <select name="${esc(name)}"><option value="">${esc(any)}</option>${options
    .map((o) => `<option value="${esc(o)}"${o === current ? ' selected' : ''}>${esc(o)}</option>`)
    .join('')}</select></label>`;
}

export function connectionsPage(who: Identity, page: Page<SessionRow>, query: ListQuery, facets: { users: string[]; targetUsers: string[]; hosts: string[] }): string {
  const rows = page.items
    .map(
      (r) => `<tr data-session="${esc(r.id)}"><td><a href="/sessions/${esc(r.id)}">${esc(r.id.slice(0, 8))}</a></td><td class="user">${esc(r.user)}</td>
<td class="target">${esc(r.targetUser)}@${esc(r.host)}</td><td>${when(r.start)}</td><td>${duration(r.duration)}</td><td>${bytes(r.size)}</td>
<td class="status status-${esc(r.status)}">${esc(r.status)}</td><td class="transfers">${r.transfers || ''}</td></tr>`,
    )
    .join('\n');
  const pages = Math.max(1, Math.ceil(page.total / page.pageSize));
  const link = (p: number) => `/${q({ ...query, page: p })}`;
  return layout(
    'Connections',
    who,
    `<h1>Connections</h1>
<form class="filters" method="get" action="/">
${select('user', 'Person', query.user, facets.users)}
${select('targetUser', 'Target user', query.targetUser, facets.targetUsers)}
${select('host', 'Host', query.host, facets.hosts)}
<label>From <input type="datetime-local" name="from" value="${esc(query.from)}"></label>
<label>To <input type="datetime-local" name="to" value="${esc(query.to)}"></label>
${select('status', 'Status', query.status, ['complete', 'incomplete', 'recovered'])}
${select('transfers', 'Transfers', query.transfers, ['yes', 'no'])}
<button type="submit">Filter</button> <a href="/">clear</a>
</form>
<p class="count">${page.total} session${page.total === 1 ? '' : 's'} (times UTC)</p>
<table class="sessions"><thead><tr><th>Session</th><th>Person</th><th>Target</th><th>Start</th><th>Duration</th><th>Size</th><th>Status</th><th>Transfers</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<p class="pager">${page.page > 1 ? `<a rel="prev" href="${esc(link(page.page - 1))}">← newer</a>` : ''} page ${page.page} of ${pages} ${
      page.page < pages ? `<a rel="next" href="${esc(link(page.page + 1))}">older →</a>` : ''
    }</p>`,
  );
}

export function searchPage(who: Identity, words: string, hits: readonly SearchHit[] | undefined, error?: string, truncated = false): string {
  const list =
    hits === undefined
      ? ''
      : hits.length === 0
        ? '<p class="count">no hits</p>'
        : `<p class="count">${hits.length}${truncated ? '+' : ''} hit${hits.length === 1 ? '' : 's'}</p><ol class="hits">${hits
            .map(
              (h) => `<li class="hit"><a href="/sessions/${esc(h.session)}${esc(q({ ch: h.channel, t: h.time, q: words }))}">
<span class="meta">${esc(h.user)} → ${esc(h.targetUser)}@${esc(h.host)} · ${when(h.start)} · channel ${h.channel} · ${esc(h.stream === 'input' ? 'typed' : 'printed')} at ${h.time.toFixed(1)}s</span>
<pre class="context">${h.context.map((l) => (l === h.line ? `<mark>${esc(l)}</mark>` : esc(l))).join('\n')}</pre></a></li>`,
            )
            .join('\n')}</ol>`;
  return layout(
    'Search',
    who,
    `<h1>Search</h1>
<form class="search" method="get" action="/search"><input type="search" name="q" value="${esc(words)}" placeholder="words typed or printed, e.g. kubectl delete pod" autofocus>
<button type="submit">Search</button></form>
${error !== undefined ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
${list}`,
  );
}

function logSummary(e: ChannelLogEntry): string {
  const rec = e as unknown as Record<string, unknown>;
  switch (e.type) {
    case 'open':
      return `open ${esc(rec.channel)}${rec.destination ? ` to ${esc(rec.destination)}` : ''}${rec.accepted === false ? ` refused: ${esc(rec.reason)}` : ''}`;
    case 'request':
      return `${esc(rec.request)}${rec.command ? ` <code>${esc(rec.command)}</code>` : ''}${rec.subsystem ? ` ${esc(rec.subsystem)}` : ''}${rec.accepted === false ? ' (refused)' : ''}`;
    case 'exit':
      return `exit${rec.status !== undefined ? ` status ${esc(rec.status)}` : ''}${rec.signal ? ` signal ${esc(rec.signal)}` : ''}`;
    case 'close':
      return `close (${bytes(Number(rec.bytesIn) || 0)} in, ${bytes(Number(rec.bytesOut) || 0)} out)`;
    case 'file_transfer':
      return `file ${esc(rec.direction)} ${esc(rec.path)}`;
    default:
      return esc(e.type) + (rec.op ? ` ${esc(rec.op)}` : '') + (rec.request ? ` ${esc(rec.request)}` : '');
  }
}

export interface SessionPageData {
  readonly id: string;
  readonly manifest: Manifest;
  readonly casts: ReadonlyArray<{ channel: number; command?: string; kind?: string }>;
  /** The raw streams (exact bytes) of channels without a pty and of forwarded channels. */
  readonly raw: ReadonlyArray<{ channel: number; lane: 'in' | 'out' | 'err' }>;
  readonly channel?: number;
  readonly startAt: number;
  /** The marker the player opens at (-1: the start). */
  readonly startMarker: number;
  readonly markers: ReadonlyArray<readonly [number, string]>;
  readonly log: readonly ChannelLogEntry[];
  readonly logProblem?: string;
  readonly integrity: SessionVerification;
  readonly views: readonly View[];
  readonly canDownload: boolean;
}

export function sessionPage(who: Identity, d: SessionPageData): string {
  const m = d.manifest;
  const tabs = d.casts
    .map((c) => `<a class="tab${c.channel === d.channel ? ' current' : ''}" href="/sessions/${esc(d.id)}?ch=${c.channel}">channel ${c.channel}${c.command ? `: ${esc(c.command)}` : c.kind ? ` (${esc(c.kind)})` : ''}</a>`)
    .join(' ');
  const player =
    d.channel === undefined
      ? '<p>No terminal recording in this session.</p>'
      : `<div id="player" data-cast="/api/sessions/${esc(d.id)}/cast/${d.channel}" data-start="${d.startAt}" data-start-marker="${d.startMarker}" data-markers="${esc(JSON.stringify(d.markers))}"></div>
<p class="controls"><label>Speed <select id="speed"><option value="0.5">0.5×</option><option value="1" selected>1×</option><option value="2">2×</option><option value="4">4×</option><option value="8">8×</option></select></label>
<label><input type="checkbox" id="idle" checked> skip idle time (over 2 s)</label></p>`;
  const integ = d.integrity;
  const integrity = integ.ok
    ? `<p class="integrity ok">intact: ${integ.checked} file${integ.checked === 1 ? '' : 's'} match their sha256 in the manifest${integ.findings.length ? ` (${integ.findings.length} expired by retention)` : ''}</p>`
    : `<div class="integrity bad"><p>not intact:</p><ul>${integ.findings.map((f) => `<li>${esc(f.path)}: ${esc(f.kind)}, ${esc(f.detail)}</li>`).join('')}</ul></div>`;
  const transfers =
    m.transfers.length === 0
      ? '<p>none</p>'
      : `<table class="transfers"><thead><tr><th>Name</th><th>Direction</th><th>Size</th><th>sha256</th><th></th></tr></thead><tbody>${m.transfers
          .map(
            (t, i) => `<tr><td class="name">${esc(t.path)}</td><td>${esc(t.direction)} (${esc(t.protocol)})</td><td>${bytes(t.size)}</td><td><code class="sha">${esc(t.sha256 ?? '')}</code></td>
<td>${t.file !== undefined && m.filesExpired === undefined ? (d.canDownload ? `<a class="download" href="/api/sessions/${esc(d.id)}/files/${i}" download>download</a>` : 'no permission to download') : esc(t.note ?? 'no copy kept')}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const LANE_NAME = { in: 'stdin', out: 'stdout', err: 'stderr' } as const;
  const rawChannels = [...new Set(d.raw.map((r) => r.channel))];
  const raw =
    rawChannels.length === 0
      ? '<p>none (a terminal with a pty is recorded as its cast)</p>'
      : `<ul class="raw">${rawChannels
          .map((ch) => {
            const c = m.channels.find((x) => x.id === ch);
            const what = c?.command ?? c?.destination ?? c?.type ?? '';
            const links = d.raw
              .filter((r) => r.channel === ch)
              .map((r) => (d.canDownload ? `<a class="download" href="/api/sessions/${esc(d.id)}/raw/${ch}/${r.lane}" download>${LANE_NAME[r.lane]}</a>` : LANE_NAME[r.lane]))
              .join(' · ');
            return `<li>channel ${ch}${what ? ` (${esc(what)})` : ''}: ${links}${d.canDownload ? '' : ' (no permission to download)'}</li>`;
          })
          .join('')}</ul>`;
  const log = d.log
    .map((e) => `<li><span class="t">${Number(e.t).toFixed(3)}s</span> ${'ch' in e ? `<span class="ch">ch ${esc(e.ch)}</span> ` : ''}${logSummary(e)}</li>`)
    .join('');
  const views = d.views.length === 0 ? '<p>nobody yet (since the console started)</p>' : `<ul class="views">${d.views.map((v) => `<li>${esc(v.viewer)} · ${when(v.at)} · ${esc(v.what === 'recording_viewed' ? 'played' : 'downloaded')} ${esc(v.detail)}</li>`).join('')}</ul>`;
  return layout(
    `Session ${d.id.slice(0, 8)}`,
    who,
    `<h1>Session <code>${esc(d.id)}</code></h1>
<dl class="facts"><dt>Person</dt><dd class="user">${esc(m.user)}</dd><dt>From</dt><dd>${esc(m.remoteAddress)}</dd><dt>Target</dt><dd>${esc(m.targetUser)}@${esc(m.host.name)} (${esc(m.host.address)}:${m.host.port})</dd>
<dt>Start</dt><dd>${when(m.start)}</dd><dt>End</dt><dd>${when(m.end)}</dd><dt>Status</dt><dd>${m.recovered ? 'recovered' : m.complete ? 'complete' : 'incomplete'}</dd></dl>
<section><h2>Playback</h2><p class="tabs">${tabs}</p>${player}</section>
<section><h2>Integrity</h2>${integrity}</section>
<section><h2>Transferred files</h2>${transfers}</section>
<section><h2>Exact bytes</h2><p class="hint">What crossed each channel without a terminal, byte for byte (the playback shows it as text).</p>${raw}</section>
<section><h2>Channel log</h2>${d.logProblem ? `<p class="error">${esc(d.logProblem)}</p>` : ''}<ol class="timeline">${log}</ol></section>
<section><h2>Viewed by</h2>${views}</section>`,
    { scripts: ['/assets/asciinema-player.min.js', '/assets/console.js'], styles: ['/assets/asciinema-player.css'] },
  );
}
