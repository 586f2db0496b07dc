// The lab's imprint and privacy pages: Markdown that admins write in otm web (/admin/pages/NAME) and
// everyone reads at /imprint and /privacy. One row per page, with who changed it last and when (the
// application's clock, never now()); every change is in the audit log too ('page.update').
import type { Migration } from '../migrate.js';

export const sitePages: Migration = {
  id: '0008_site_pages',
  sql: `
CREATE TABLE otm.site_pages (
  name        text PRIMARY KEY CHECK (name IN ('imprint', 'privacy')),
  markdown    text NOT NULL CHECK (length(markdown) <= 50000),
  updated_at  timestamptz NOT NULL,
  updated_by  text NOT NULL
);
`,
};
