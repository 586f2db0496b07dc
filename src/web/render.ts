// Server-rendered pages: Eta templates from the package's web/views folder, HTML-escaped by default,
// each inside web/views/layout.eta. Static files (the style sheet, the small scripts) are in web/static.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { en } from './text.js';

/** The folder holding the package's `web/` (the repository when run from source, the installed package otherwise). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'web', 'views', 'layout.eta'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the web/views folder of otree-manager next to its code; reinstall the package');
    dir = parent;
  }
  return dir;
}

export const WEB_DIR = path.join(packageRoot(), 'web');
export const STATIC_DIR = path.join(WEB_DIR, 'static');

export interface PageRenderer {
  /** The page `view` (a file of web/views without `.eta`) with `data`, inside the layout; `it.t` is the text. */
  page(view: string, data: Record<string, unknown>): string;
  /** One template alone (a part a live update replaces), with `it.t`. */
  fragment(view: string, data: Record<string, unknown>): string;
}

export function createRenderer(): PageRenderer {
  const eta = new Eta({ views: path.join(WEB_DIR, 'views'), autoEscape: true, cache: true, useWith: false });
  return {
    page: (view, data) => {
      const withText = { t: en, ...data };
      return eta.render('layout', { ...withText, body: eta.render(view, withText) });
    },
    fragment: (view, data) => eta.render(view, { t: en, ...data }),
  };
}
