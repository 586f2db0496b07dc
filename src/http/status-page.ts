// `GET /`: a read-only status page for people (lab admins on the manager or through an ssh tunnel: the
// daemon is not on the public site), built from the same status store as the API. No script, no external
// assets; every value is HTML-escaped, no secret is shown.
// It needs the API token like every read: a browser asks for it with HTTP Basic (any user name).
import type { FastifyInstance } from 'fastify';
import type { StatusStore } from '../engine/status.js';
import { requireBearer } from './auth.js';
import { ApiError } from './errors.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export function registerStatusPage(app: FastifyInstance, status: () => StatusStore | undefined, token: string | undefined): void {
  app.get('/', async (request, reply) => {
    try {
      requireBearer(request.headers.authorization, token);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 401) void reply.header('www-authenticate', 'Basic realm="otree-manager", charset="UTF-8"');
      throw err;
    }
    const store = status();
    const rows = store ? (await store.list()).sort((a, b) => a.name.localeCompare(b.name)) : [];
    const body = rows.map((s) => {
      const ready = s.conditions.find((c) => c.type === 'Ready');
      const url = s.urls[0];
      const note = s.lastError?.message ?? s.deferred[0]?.reason ?? ready?.message ?? '';
      return `<tr class="${ready?.status === 'True' ? 'ok' : 'wait'}"><td>${escapeHtml(s.name)}</td><td>${escapeHtml(s.host)}</td>`
        + `<td>${escapeHtml(s.phase)}</td><td>${escapeHtml(`${ready?.status ?? 'Unknown'} ${ready?.reason ?? ''}`)}</td>`
        + `<td>${url ? `<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>` : ''}</td><td>${escapeHtml(note)}</td>`
        + `<td>${escapeHtml(s.updatedAt)}</td></tr>`;
    }).join('\n');
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15"><title>otree-manager</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}tr.ok td:nth-child(4){color:#176f2c}tr.wait td:nth-child(4){color:#a15c00}</style>
</head><body><h1>otree-manager</h1>
<p>${store ? `${rows.length} instance(s)` : 'starting: no status yet'}. JSON: <a href="/api/v1/instances">/api/v1/instances</a></p>
<table><thead><tr><th>Instance</th><th>Host</th><th>Phase</th><th>Ready</th><th>URL</th><th>Note</th><th>Updated</th></tr></thead>
<tbody>
${body}
</tbody></table></body></html>
`;
    return reply.type('text/html; charset=utf-8').send(html);
  });
}
