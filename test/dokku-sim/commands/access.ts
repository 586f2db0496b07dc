// ssh-keys (core, bash over sshcommand) and acl (dokku-community/dokku-acl, bash).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CommandSpec, Ctx } from '../context.js';
import { byteOrder, Exit } from '../output.js';
import type { SshKey } from '../state.js';
import { readStdinAll } from '../stdin.js';

const ALLOWED = 'no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding';

/** `ssh-keygen -l`'s SHA256 fingerprint of a public key line, or undefined when it is not one. */
export function fingerprint(line: string): string | undefined {
  const parts = line.trim().split(/\s+/);
  const type = parts[0];
  const blob = parts[1];
  if (!type || !blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) return undefined;
  const bytes = Buffer.from(blob, 'base64');
  if (bytes.length < 4) return undefined;
  const len = bytes.readUInt32BE(0);
  if (bytes.subarray(4, 4 + len).toString('latin1') !== type) return undefined;
  return `SHA256:${createHash('sha256').update(bytes).digest('base64').replace(/=+$/, '')}`;
}

function keysOrFail(ctx: Ctx): SshKey[] {
  const keys = ctx.state().sshKeys;
  if (keys.length === 0) ctx.out.fail('No public keys found.');
  return keys;
}

/** sshcommand's own failures are plain stderr lines; dokku then adds its own message. */
function sshcommandFailed(ctx: Ctx, message: string): never {
  ctx.out.stderrLine(message);
  return ctx.out.fail('sshcommand returned an error: 1');
}

export const accessCommands: Record<string, CommandSpec> = {
  'ssh-keys:add': {
    family: 'bash',
    mutating: true,
    run(ctx, args) {
      const [name, file] = args;
      let text: string;
      if (file) {
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          text = '';
        }
      } else {
        if (process.stdin.isTTY) ctx.out.fail('No key specified via file or pipe');
        text = (readStdinAll().split('\n')[0] ?? '');
      }
      if (text.trim() === '') ctx.out.fail('Empty key was specified');
      if (text.replace(/\n$/, '').includes('\n')) ctx.out.fail('Too many keys provided, set one per invocation of dokku ssh-keys:add <NAME> <KEY_FILE>');
      const fp = fingerprint(text);
      if (!fp) return ctx.out.fail('Key specified in is not a valid ssh public key');
      if (!name) return sshcommandFailed(ctx, 'Usage: sshcommand acl-add USER NAME [KEY_FILE]');
      ctx.store.transact((s) => {
        if (s.sshKeys.some((k) => k.name === name)) sshcommandFailed(ctx, 'Duplicate ssh key name');
        if (s.sshKeys.some((k) => k.fingerprint === fp)) sshcommandFailed(ctx, 'Duplicate ssh public key specified');
        s.sshKeys.push({ name, fingerprint: fp, key: text.trim() });
      });
      ctx.out.line(fp);
    },
  },
  'ssh-keys:remove': {
    family: 'bash',
    mutating: true,
    run(ctx, args) {
      keysOrFail(ctx);
      const byFingerprint = args[0] === '--fingerprint';
      const target = byFingerprint ? args[1] : args[0];
      if (!target) ctx.out.fail('A name is required to remove a key, ie: dokku ssh-keys:remove <name>');
      ctx.store.transact((s) => {
        s.sshKeys = s.sshKeys.filter((k) => (byFingerprint ? k.fingerprint : k.name) !== target);
      });
    },
  },
  'ssh-keys:list': {
    family: 'bash',
    run(ctx, args) {
      let format = 'text';
      const rest: string[] = [];
      for (let i = 0; i < args.length; i++) {
        if (args[i] === '--format') format = args[++i] ?? '';
        else rest.push(args[i]!);
      }
      const keys = keysOrFail(ctx).filter((k) => !rest[0] || k.name === rest[0]);
      if (format === 'json') {
        ctx.out.line(JSON.stringify(keys.map((k) => ({ fingerprint: k.fingerprint, name: k.name, SSHCOMMAND_ALLOWED_KEYS: ALLOWED }))));
        return;
      }
      for (const k of keys) ctx.out.line(`${k.fingerprint} NAME="${k.name}" SSHCOMMAND_ALLOWED_KEYS="${ALLOWED}"`);
    },
  },
  'acl:add': {
    family: 'bash',
    mutating: true,
    run(ctx, args) {
      const [name, user] = args;
      checkAclApp(ctx, name);
      if (!user) return ctx.out.fail('Please specify a user name');
      ctx.store.transact((s) => {
        const app = ctx.verifyAppBash(name, s);
        if (app.acl.includes(user)) {
          ctx.out.stderrLine('User already has permissions to push to this repository');
          throw new Exit(2);
        }
        app.acl.push(user);
      });
    },
  },
  'acl:remove': {
    family: 'bash',
    mutating: true,
    run(ctx, args) {
      const [name, user] = args;
      checkAclApp(ctx, name);
      if (!user) ctx.out.fail('Please specify a user name');
      ctx.store.transact((s) => {
        const app = ctx.verifyAppBash(name, s);
        app.acl = app.acl.filter((u) => u !== user);
      });
    },
  },
  'acl:list': {
    family: 'bash',
    run(ctx, args) {
      const state = ctx.state();
      const names = args[0] ? [args[0]] : Object.keys(state.apps).sort(byteOrder);
      for (const name of names) {
        checkAclApp(ctx, name);
        if (!args[0]) ctx.out.info2Quiet(`${name} acl list`);
        // dokku-acl lists with `ls -1 … >&2`: the users arrive on stderr.
        for (const user of [...state.apps[name]!.acl].sort(byteOrder)) ctx.out.stderrLine(user);
      }
    },
  },
};

/** fn-acl-check-app: the app must exist, and ACLs are only changed by a local (not ssh) dokku call. */
function checkAclApp(ctx: Ctx, name: string | undefined): void {
  ctx.verifyAppBash(name);
  if (ctx.env.NAME) ctx.out.fail('You can only modify ACL using local dokku command on target host');
}
