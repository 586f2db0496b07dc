// The lab's imprint and privacy pages (universities must publish both): Markdown that admins write at
// /admin/pages/NAME, stored in otm.site_pages (migration 0008_site_pages) with who changed it last and
// when, every change audited as 'page.update'. The Markdown is rendered with markdown-it with raw HTML
// off (a `<script>` in the text is shown as text, not run), links found in plain text made links, and
// every link given rel="noopener"; markdown-it itself refuses javascript:, vbscript: and data: links.
import MarkdownIt from 'markdown-it';
import type pg from 'pg';
import type { Clock } from '../engine/clock.js';
import { audit } from '../store/audit.js';
import type { Actor } from '../store/audit.js';
import { inTransaction } from '../store/pool.js';

export const SITE_PAGES = ['imprint', 'privacy'] as const;
export type SitePageName = (typeof SITE_PAGES)[number];

/** The longest text a page may have (the table's CHECK says the same). */
export const MAX_SITE_PAGE_LENGTH = 50_000;

export function isSitePage(name: string): name is SitePageName {
  return (SITE_PAGES as readonly string[]).includes(name);
}

export interface SitePage {
  name: SitePageName;
  markdown: string;
  updatedAt: Date;
  updatedBy: string;
}

/** What the admin pages read and write; SitePageStore on PostgreSQL. */
export interface SitePages {
  /** The page as last saved; undefined when nobody has written it yet. */
  get(name: SitePageName): Promise<SitePage | undefined>;
  /** Stores the page's new text and audits the change (never rejects for the text's content; RangeError when too long). */
  put(name: SitePageName, markdown: string, by: Actor): Promise<SitePage>;
}

export class SitePageStore implements SitePages {
  constructor(private readonly pool: pg.Pool, private readonly clock: Clock) {}

  async get(name: SitePageName): Promise<SitePage | undefined> {
    const { rows } = await this.pool.query<{ markdown: string; updated_at: Date; updated_by: string }>(
      'SELECT markdown, updated_at, updated_by FROM otm.site_pages WHERE name = $1', [name]);
    const row = rows[0];
    return row ? { name, markdown: row.markdown, updatedAt: row.updated_at, updatedBy: row.updated_by } : undefined;
  }

  async put(name: SitePageName, markdown: string, by: Actor): Promise<SitePage> {
    if (!isSitePage(name)) throw new TypeError(`a site page is one of ${SITE_PAGES.join(', ')}, not ${JSON.stringify(name)}`);
    if (markdown.length > MAX_SITE_PAGE_LENGTH) throw new RangeError(`a page has at most ${MAX_SITE_PAGE_LENGTH} characters`);
    const at = new Date(this.clock.now());
    return inTransaction(this.pool, async (client) => {
      const before = await client.query<{ length: number }>('SELECT length(markdown) AS length FROM otm.site_pages WHERE name = $1 FOR UPDATE', [name]);
      await client.query(
        `INSERT INTO otm.site_pages (name, markdown, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET markdown = EXCLUDED.markdown, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by`,
        [name, markdown, at, by.actor]);
      await audit(client, {
        ...by, action: 'page.update', objectKind: 'site-page', objectName: name,
        details: { characters: markdown.length, ...(before.rows[0] ? { charactersBefore: Number(before.rows[0].length) } : {}) },
      });
      return { name, markdown, updatedAt: at, updatedBy: by.actor };
    });
  }
}

const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false });
const renderLinkOpen = markdown.renderer.rules.link_open ?? ((tokens, index, options, _env, self) => self.renderToken(tokens, index, options));
markdown.renderer.rules.link_open = (tokens, index, options, env, self) => {
  tokens[index]!.attrSet('rel', 'noopener');
  return renderLinkOpen(tokens, index, options, env, self);
};

/** The HTML of a page's Markdown: raw HTML escaped, unsafe links refused, every link rel="noopener". */
export function renderMarkdown(text: string): string {
  return markdown.render(text);
}
