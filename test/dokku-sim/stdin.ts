// Synchronous reads of standard input (confirmation prompts, ssh-keys:add, config:import).
import { readSync } from 'node:fs';

/** One line from stdin without its newline, or undefined at end of input. */
export function readStdinLine(): string | undefined {
  const buf = Buffer.alloc(1);
  let line = '';
  for (;;) {
    const n = readByte(buf);
    if (n === 0) return line === '' ? undefined : line;
    const ch = buf.toString('latin1', 0, 1);
    if (ch === '\n') return Buffer.from(line, 'latin1').toString('utf8');
    line += ch;
  }
}

/** Everything on stdin; empty when stdin is closed or a terminal. */
export function readStdinAll(): string {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = readByte(buf);
    if (n === 0) return Buffer.concat(chunks).toString('utf8');
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

function readByte(buf: Buffer): number {
  for (;;) {
    try {
      return readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      // EOF-like conditions: stdin closed or not readable.
      return 0;
    }
  }
}
