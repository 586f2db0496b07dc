// The password policy (length only, not the person's name) and argon2id hashing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseOptions } from '@node-rs/argon2';
import {
  checkPasswordPolicy, DUMMY_HASH, hashPassword, HASH_OPTIONS, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH,
  needsRehash, PasswordPolicyError, verifyPassword,
} from '../../src/web/passwords.js';

describe('password policy', () => {
  const cases: { password: string; person?: string; refused?: RegExp; why: string }[] = [
    { password: 'a'.repeat(MIN_PASSWORD_LENGTH - 1), refused: /at least 12 characters/, why: 'one too short' },
    { password: '', refused: /at least 12 characters/, why: 'empty' },
    { password: 'a'.repeat(MIN_PASSWORD_LENGTH), why: 'exactly the minimum' },
    { password: 'correct horse battery staple', why: 'a passphrase: no composition rules' },
    { password: 'x'.repeat(MAX_PASSWORD_LENGTH), why: 'exactly the maximum' },
    { password: 'x'.repeat(MAX_PASSWORD_LENGTH + 1), refused: /at most 1024 characters/, why: 'one too long' },
    { password: '🔑'.repeat(MIN_PASSWORD_LENGTH), why: 'counted in characters, not UTF-16 units' },
    { password: '🔑'.repeat(MIN_PASSWORD_LENGTH - 1), refused: /at least 12/, why: 'astral characters count once' },
    { password: 'e\u0301'.repeat(6), refused: /at least 12/, why: 'a decomposed accent counts once (NFKC)' },
    { password: 'Experimenter', person: 'experimenter', refused: /not be the name/, why: 'the name, another case' },
    { password: 'experimenter', person: 'experimenter', refused: /not be the name/, why: 'the name itself' },
    { password: 'experimenter1', person: 'experimenter', why: 'more than the name' },
  ];
  for (const c of cases) {
    it(`${c.refused ? 'refuses' : 'accepts'}: ${c.why}`, () => {
      const check = () => checkPasswordPolicy(c.password, c.person ?? 'alice');
      if (!c.refused) return check();
      assert.throws(check, (err: Error) => {
        assert.ok(err instanceof PasswordPolicyError);
        assert.match(err.message, c.refused!);
        if (c.password.length > 0) assert.ok(!err.message.includes(c.password), 'the message never holds the password');
        return true;
      });
    });
  }
});

describe('hashing', () => {
  it('makes an argon2id PHC string with the documented parameters and a fresh salt', async () => {
    const password = 'a long enough passphrase';
    const first = await hashPassword(password);
    const second = await hashPassword(password);
    assert.match(first, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(first, second, 'every hash has its own salt');
    assert.ok(!first.includes(password));
    assert.equal(await verifyPassword(first, password), true);
    assert.equal(await verifyPassword(second, password), true);
    assert.equal(needsRehash(first), false);
  });

  it('answers false for a wrong password, also one differing only in case or a trailing space', async () => {
    const stored = await hashPassword('a long enough passphrase');
    for (const wrong of ['a long enough passphras', 'A long enough passphrase', 'a long enough passphrase ', '']) {
      assert.equal(await verifyPassword(stored, wrong), false, JSON.stringify(wrong));
    }
  });

  it('verifies a composed accent against the decomposed one (NFKC)', async () => {
    const stored = await hashPassword('caf\u00e9 au lait, bitte');
    assert.equal(await verifyPassword(stored, 'cafe\u0301 au lait, bitte'), true);
  });

  it('keeps the dummy hash on the same parameters as real ones, so it costs the same to verify', () => {
    const used = parseOptions(DUMMY_HASH);
    assert.deepEqual(
      { algorithm: used.algorithm, memoryCost: used.memoryCost, timeCost: used.timeCost, parallelism: used.parallelism, outputLen: used.outputLen },
      { algorithm: HASH_OPTIONS.algorithm, memoryCost: HASH_OPTIONS.memoryCost, timeCost: HASH_OPTIONS.timeCost, parallelism: HASH_OPTIONS.parallelism, outputLen: HASH_OPTIONS.outputLen });
    assert.equal(needsRehash(DUMMY_HASH), false);
  });

  it('tells a hash made with other parameters to be made again', async () => {
    const { hash } = await import('@node-rs/argon2');
    assert.equal(needsRehash(await hash('a long enough passphrase', { ...HASH_OPTIONS, timeCost: 1 })), true);
  });
});
