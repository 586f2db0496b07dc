// Dokku's output primitives, byte for byte (plugins/common/log.go and the bash helpers in
// plugins/common/functions), the two report layouts, Go's JSON encoding and pflag's usage text.
import { writeSync } from 'node:fs';

/** Thrown to end the invocation with an exit code; main() turns it into process.exitCode. */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export class Output {
  /** `--quiet` (DOKKU_QUIET_OUTPUT). */
  quiet = false;
  /** Build paths in 0.38.0+ tee stderr into stdout. */
  stderrToStdout = false;

  out(text: string | Uint8Array): void {
    write(1, text);
  }

  err(text: string): void {
    write(this.stderrToStdout ? 1 : 2, text);
  }

  line(text: string): void { this.out(`${text}\n`); }
  info1(text: string): void { this.line(`-----> ${text}`); }
  info1Quiet(text: string): void { if (!this.quiet) this.info1(text); }
  info2(text: string): void { this.line(`=====> ${text}`); }
  info2Quiet(text: string): void { if (!this.quiet) this.info2(text); }
  verbose(text: string): void { this.line(`       ${text}`); }
  verboseQuiet(text: string): void { if (!this.quiet) this.verbose(text); }
  quietLine(text: string): void { if (!this.quiet) this.line(text); }
  exclaim(text: string): void { this.line(` !     ${text}`); }
  warn(text: string): void { this.err(` !     ${text}\n`); }
  stderrLine(text: string): void { this.err(`${text}\n`); }

  /** dokku_log_fail / LogFail: message on stderr, then exit. */
  fail(text: string, code = 1): never {
    for (const l of text.split('\n')) this.warn(l);
    throw new Exit(code);
  }

  appMissing(app: string): never {
    return this.fail(`App ${app} does not exist`, 20);
  }
}

function write(fd: number, text: string | Uint8Array): void {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      // A non-blocking pipe may be full for a moment; anything else (a closed reader) ends the output.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

/** Go encoding/json for strings: HTML-safe escapes and \u00XX for control characters. */
export function goJsonString(s: string): string {
  let r = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') r += '\\"';
    else if (ch === '\\') r += '\\\\';
    else if (ch === '\n') r += '\\n';
    else if (ch === '\r') r += '\\r';
    else if (ch === '\t') r += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      r += `\\u${c.toString(16).padStart(4, '0')}`;
    } else r += ch;
  }
  return `${r}"`;
}

/** Go json.Marshal of map[string]string: compact, keys sorted byte-wise. */
export function goJsonMap(map: Record<string, string>): string {
  const keys = Object.keys(map).sort(byteOrder);
  return `{${keys.map((k) => `${goJsonString(k)}:${goJsonString(map[k]!)}`).join(',')}}`;
}

/** `jq -c` of an object built in insertion order (bash reports' --format json). */
export function jqJsonMap(entries: [string, string][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

export function byteOrder(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

/** ryanuber/columnize with Dokku's settings: first column padded to the widest, two-space gutter. */
export function columnize(rows: [string, string][], prefix = ''): string[] {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${prefix}${k.padEnd(width)}  ${v}`);
}

/** One report row in the Go layout: key derived from the flag, padded to the report's width. */
export function goReportKey(flag: string, capitalize = true): string {
  const words = flag.replace(/^--/, '').replace(/[-.]/g, ' ');
  return capitalize ? words.charAt(0).toUpperCase() + words.slice(1) : words;
}

/** ReportSingleApp's text layout: rows sorted by flag, `Key:` padded to max(31, longest flag). */
export function goReportLines(header: string, rows: Record<string, string>, keyOf: (flag: string) => string = (f) => goReportKey(f)): string[] {
  const flags = Object.keys(rows).sort(byteOrder);
  const width = Math.max(31, ...flags.map((f) => f.length));
  return [`=====> ${header}`, ...flags.map((f) => `       ${`${keyOf(f)}:`.padEnd(width)}${rows[f]}`)];
}

/** Bash reports: `printf "%-30s %-25s"` in source order, with the trailing spaces that implies. */
export function bashReportLine(key: string, value: string, keyWidth = 30, valueWidth = 25): string {
  return `       ${`${key}:`.padEnd(keyWidth)} ${value.padEnd(valueWidth)}`;
}

/** A flag of a Go subcommand (spf13/pflag). */
export interface FlagSpec {
  name: string;
  shorthand?: string;
  type: 'bool' | 'string' | 'int' | 'stringArray';
  usage: string;
  default?: string;
}

/** pflag's FlagUsages(): `  -s, --name type   usage (default "x")`, aligned on the widest flag. */
export function pflagUsage(command: string, flags: FlagSpec[]): string {
  const sorted = [...flags].sort((a, b) => byteOrder(a.name, b.name));
  const lefts = sorted.map((f) => {
    let left = f.shorthand ? `  -${f.shorthand}, --${f.name}` : `      --${f.name}`;
    if (f.type !== 'bool') left += ` ${f.type}`;
    return left;
  });
  const width = Math.max(0, ...lefts.map((l) => l.length));
  const lines = sorted.map((f, i) => {
    let text = `${lefts[i]!.padEnd(width)}   ${f.usage}`;
    if (f.default !== undefined && f.default !== '' && f.default !== 'false' && f.default !== '0') {
      text += f.type === 'string' ? ` (default ${JSON.stringify(f.default)})` : ` (default ${f.default})`;
    }
    return text;
  });
  return `Usage of ${command}:\n${lines.map((l) => `${l}\n`).join('')}`;
}
