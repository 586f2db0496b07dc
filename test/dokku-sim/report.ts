// The `:report` family in its two implementations: Go (common.ReportSingleApp: sorted rows, JSON
// with sorted keys) and bash (fixed row order, printf padding, `jq -c` JSON from 0.38.0).
import type { Ctx } from './context.js';
import type { AppState, SimState } from './state.js';
import { byteOrder, goJsonMap, goReportLines, bashReportLine, jqJsonMap } from './output.js';

export interface ReportDef {
  /** Header word: `=====> myapp <type> information`. */
  type: string;
  /** Flag prefix stripped for un-prefixed JSON keys, e.g. `--app-`. */
  prefix: string;
  implementation: 'go' | 'bash';
  /** Rows as [flag, value], in the source's order (bash prints them in this order). */
  rows(ctx: Ctx, name: string, app: AppState, state: SimState): Promise<[string, string][]> | [string, string][];
  /** Go: how a row's key is derived from its flag, when not the usual capitalised words. */
  textKey?: (ctx: Ctx, flag: string) => string;
  /** Go JSON keys: legacy and un-prefixed (apps, ps, resource from 0.38.8) or un-prefixed only (0.38.22 ports). */
  goJson?: 'legacy-and-unprefixed' | 'unprefixed';
  /** Go JSON keys before 0.38.8 are the flag minus this (default `--`). */
  legacyStrip?: string;
  /** bash single-flag report of an empty value: print nothing (domains) or fail "not deployed" (git, letsencrypt). */
  emptySingle?: 'blank' | 'fail';
  /** bash --format json exists (from this version on, or always for external plugins). */
  bashJson?: (ctx: Ctx) => boolean;
}

interface ReportArgs {
  app?: string;
  format: string;
  infoFlags: string[];
}

function parseReportArgs(args: string[]): ReportArgs {
  const parsed: ReportArgs = { format: 'stdout', infoFlags: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--format') parsed.format = args[++i] ?? '';
    else if (a.startsWith('--format=')) parsed.format = a.slice('--format='.length);
    else if (a.startsWith('--')) parsed.infoFlags.push(a);
    else parsed.app ??= a;
  }
  return parsed;
}

export async function runReport(ctx: Ctx, def: ReportDef, args: string[]): Promise<void> {
  if (def.implementation === 'go') await goReport(ctx, def, args);
  else await bashReport(ctx, def, args);
}

function goJsonKeys(ctx: Ctx, def: ReportDef, rows: [string, string][]): Record<string, string> {
  const map: Record<string, string> = {};
  const legacyStrip = def.legacyStrip ?? '--';
  for (const [flag, value] of rows) {
    const unprefixed = flag.startsWith(def.prefix) ? flag.slice(def.prefix.length) : flag.slice(2);
    if (def.goJson === 'unprefixed') {
      map[unprefixed] = value;
      continue;
    }
    map[flag.startsWith(legacyStrip) ? flag.slice(legacyStrip.length) : flag.slice(2)] = value;
    if (ctx.features.reportJsonUnprefixed) {
      map[flag.slice(2)] = value;
      map[unprefixed] = value;
    }
  }
  return map;
}

async function goReport(ctx: Ctx, def: ReportDef, args: string[]): Promise<void> {
  const parsed = parseReportArgs(args);
  if (parsed.format !== 'stdout' && parsed.format !== 'json') {
    if (ctx.features.reportJsonUnprefixed) ctx.out.fail(`Format must be "stdout" or "json": "${parsed.format}"`);
    parsed.format = 'stdout';
  }
  // ParseReportArgs rejects two info flags, but the caller drops the error: nothing is printed.
  if (parsed.infoFlags.length > 1) return;
  const infoFlag = parsed.infoFlags[0];
  if (infoFlag && parsed.format === 'json') ctx.out.fail('--format flag cannot be specified when specifying an info flag');
  const state = ctx.state();
  let names: string[];
  if (parsed.app) {
    ctx.verifyAppGo(parsed.app, state);
    names = [parsed.app];
  } else {
    names = Object.keys(state.apps).sort(byteOrder);
    if (names.length === 0) ctx.out.fail("You haven't deployed any applications yet", ctx.features.reportsExitZeroWithoutApps ? 0 : 1);
  }
  for (const name of names) {
    const rows = await def.rows(ctx, name, state.apps[name]!, state);
    if (infoFlag) {
      const row = rows.find(([flag]) => flag === infoFlag);
      if (!row) ctx.out.fail(`Invalid flag passed, valid flags: ${rows.map(([f]) => f).sort(byteOrder).join(', ')}`);
      ctx.out.line(row[1]);
      continue;
    }
    if (parsed.format === 'json') {
      ctx.out.line(goJsonMap(goJsonKeys(ctx, def, rows)));
      continue;
    }
    const textKey = def.textKey;
    const lines = goReportLines(`${name} ${def.type} information`, Object.fromEntries(rows), textKey ? (f) => textKey(ctx, f) : undefined);
    if (!ctx.out.quiet) ctx.out.line(lines[0]!);
    for (const l of lines.slice(1)) ctx.out.line(l);
  }
}

async function bashReport(ctx: Ctx, def: ReportDef, args: string[]): Promise<void> {
  const jsonAllowed = def.bashJson ? def.bashJson(ctx) : ctx.features.bashReportJson;
  let format = 'stdout';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (jsonAllowed && a === '--format') format = args[++i] ?? '';
    else if (jsonAllowed && a.startsWith('--format=')) format = a.slice('--format='.length);
    else rest.push(a);
  }
  const app = rest.find((a) => !a.startsWith('--'));
  const infoFlag = rest.find((a) => a.startsWith('--'));
  const state = ctx.state();
  let names: string[];
  if (app) {
    ctx.verifyAppBash(app, state);
    names = [app];
  } else {
    names = Object.keys(state.apps).sort(byteOrder);
    if (names.length === 0) ctx.out.fail("You haven't deployed any applications yet");
  }
  for (const name of names) {
    const rows = await def.rows(ctx, name, state.apps[name]!, state);
    if (infoFlag) {
      const row = rows.find(([flag]) => flag === infoFlag);
      if (!row) ctx.out.fail(`Invalid flag passed, valid flags:${rows.map(([f]) => ` ${f}`).join('')}`);
      if (row[1] === '') {
        if (def.emptySingle === 'fail') ctx.out.fail('not deployed');
        continue;
      }
      ctx.out.line(row[1]);
      continue;
    }
    if (format === 'json') {
      ctx.out.line(jqJsonMap(rows.map(([f, v]) => [f.startsWith(def.prefix) ? f.slice(def.prefix.length) : f.slice(2), v])));
      continue;
    }
    ctx.out.info2Quiet(`${name} ${def.type} information`);
    for (const [flag, value] of rows) {
      const words = flag.slice(2).replace(/-/g, ' ');
      ctx.out.line(bashReportLine(words.charAt(0).toUpperCase() + words.slice(1), value));
    }
  }
}
