// A public key as people paste it into the profile page, turned into the one OpenSSH line an
// Experimenter's spec.sshKeys holds: trimmed, its comment kept, checked with the manifest's own key
// checks (src/manifest/sshkeys.ts), and recognised when it is something else (a private key, a PuTTY
// file, an authorized_keys line with options, a DSA or security key). The public-key format PuTTYgen
// saves (RFC 4716, "---- BEGIN SSH2 PUBLIC KEY ----") is converted.
import { sshFingerprint } from '../engine/planner.js';
import { sshKeyBits, sshKeyProblem } from '../manifest/sshkeys.js';
import type { ProfileText } from './text-profile.js';

/** Longer than any public key line (an RSA key of 16384 bits is about 2,800 characters). */
export const MAX_PASTED_KEY_LENGTH = 8192;

const ACCEPTED_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);
/** What `ssh-keygen -l` prints in brackets after a key. */
const TYPE_NAMES: Record<string, string> = {
  'ssh-ed25519': 'ED25519', 'ecdsa-sha2-nistp256': 'ECDSA', 'ecdsa-sha2-nistp384': 'ECDSA', 'ecdsa-sha2-nistp521': 'ECDSA', 'ssh-rsa': 'RSA',
};
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const KEY_START = /^(ssh-|ecdsa-|sk-)/;

/** One key of a person, as the profile lists it. */
export interface KeyView {
  /** The line as stored. */
  line: string;
  /** `ED25519`, `ECDSA`, `RSA`, as `ssh-keygen -l` names them. */
  type: string;
  bits: number | undefined;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  comment: string;
}

export function keyView(line: string): KeyView {
  const [type = '', , ...comment] = line.split(' ');
  return { line, type: TYPE_NAMES[type] ?? type, bits: sshKeyBits(line), fingerprint: sshFingerprint(line), comment: comment.join(' ') };
}

/** `secret`: what was pasted is a private key, never to be shown again (not even back in the form). */
export type PastedKey = { ok: true; key: KeyView } | { ok: false; problem: string; secret?: true };

/** RFC 4716 (PuTTYgen's "Save public key"): headers, then the base64 blob over several lines. */
function fromRfc4716(text: string): { type: string; data: string; comment: string } | undefined {
  const lines = text.split('\n').map((line) => line.trim());
  const end = lines.indexOf('---- END SSH2 PUBLIC KEY ----');
  if (end < 0) return undefined;
  let comment = '';
  const body: string[] = [];
  for (let i = 1; i < end; i++) {
    let line = lines[i]!;
    if (body.length === 0 && line.includes(':')) {
      // A header, perhaps continued with a backslash at the end of its lines.
      while (line.endsWith('\\') && i + 1 < end) line = line.slice(0, -1) + lines[++i]!;
      const [name = '', ...value] = line.split(':');
      if (name.trim().toLowerCase() === 'comment') comment = value.join(':').trim().replace(/^"(.*)"$/, '$1');
      continue;
    }
    body.push(line);
  }
  const data = body.join('');
  if (!BASE64.test(data)) return undefined;
  const blob = Buffer.from(data, 'base64');
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type = blob.subarray(4, 4 + typeLength).toString('latin1');
  return { type, data, comment };
}

/** The OpenSSH line of a pasted public key, or what is wrong with what was pasted (a sentence of `text`). */
export function readPastedKey(pasted: string, text: ProfileText['keys']['errors']): PastedKey {
  const trimmed = pasted.replace(/\r\n?/g, '\n').trim();
  const refuse = (problem: string): PastedKey => ({ ok: false, problem });
  if (trimmed === '') return refuse(text.empty);
  if (/PRIVATE KEY-----/.test(trimmed)) return { ok: false, problem: text.privateKey, secret: true };
  if (/^PuTTY-User-Key-File-/m.test(trimmed)) return { ok: false, problem: text.puttyPrivate, secret: true };
  if (trimmed.length > MAX_PASTED_KEY_LENGTH) return refuse(text.tooLong(MAX_PASTED_KEY_LENGTH));

  let parts: { type: string; data: string; comment: string };
  if (trimmed.startsWith('---- BEGIN SSH2 PUBLIC KEY ----')) {
    const converted = fromRfc4716(trimmed);
    if (!converted) return refuse(text.notBase64);
    parts = converted;
  } else {
    const lines = trimmed.split('\n').filter((line) => line.trim() !== '');
    if (lines.length > 1) return refuse(lines.filter((line) => KEY_START.test(line.trim())).length > 1 ? text.severalKeys : text.severalLines);
    const [type = '', data = '', ...comment] = trimmed.split(/\s+/);
    parts = { type, data, comment: comment.join(' ') };
  }
  const { type, data, comment } = parts;
  if (!ACCEPTED_TYPES.has(type)) {
    if (type === 'ssh-dss') return refuse(text.dsa);
    if (type.startsWith('sk-')) return refuse(text.securityKey);
    if (!KEY_START.test(type) && [data, ...comment.split(' ')].some((word) => ACCEPTED_TYPES.has(word))) return refuse(text.options);
    return refuse(text.unknownType);
  }
  if (!BASE64.test(data)) return refuse(text.notBase64);
  const line = comment === '' ? `${type} ${data}` : `${type} ${data} ${comment}`;
  const problem = sshKeyProblem(line);
  if (problem !== undefined) return refuse(text.invalid(problem));
  return { ok: true, key: keyView(line) };
}
