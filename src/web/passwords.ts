// Local passwords: a length-based policy (NIST SP 800-63B: a minimum length, a generous maximum, no
// composition rules, no forced rotation) and argon2id hashes in PHC string format. Passwords are
// normalised to Unicode NFKC before they are measured or hashed, so the same password typed on two
// keyboards (composed or decomposed accents) is the same password. A password never appears in a log
// or an error message.
import { hash, parseOptions, verify } from '@node-rs/argon2';
import type { Options } from '@node-rs/argon2';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

/** A password the policy refuses; the message states the rule, never the password. */
export class PasswordPolicyError extends Error {
  override name = 'PasswordPolicyError';
}

/** Argon2id, version 0x13. */
const ARGON2ID = 2;

/**
 * OWASP Password Storage Cheat Sheet, first recommended argon2id configuration: 19 MiB of memory
 * (m=19456 KiB), 2 iterations (t=2), 1 degree of parallelism (p=1); 16-byte random salt, 32-byte
 * output. About 20 to 40 ms on one core of a current server. Raising these later is safe: existing
 * hashes keep their own parameters (they are in the PHC string) and still verify.
 */
export const HASH_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1, outputLen: 32 } as const satisfies Options;

/**
 * The hash of a random password nobody knows, made with HASH_OPTIONS: verifying against it costs what
 * verifying a real hash costs, so an unknown account answers as slowly as a wrong password.
 */
export const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$JCVw/dWlcFZyYgV4W/0uqQ$O1XO+9RGHkDrEi/KcmF9nSLT2zddb+8m2clmCMX/8iI';

function normalise(password: string): string {
  return password.normalize('NFKC');
}

/** Length in characters (Unicode code points) after normalisation, as the policy counts it. */
export function passwordLength(password: string): number {
  return [...normalise(password)].length;
}

/** Throws PasswordPolicyError when `password` may not be set for `person`. */
export function checkPasswordPolicy(password: string, person: string): void {
  const length = passwordLength(password);
  if (length < MIN_PASSWORD_LENGTH) {
    throw new PasswordPolicyError(`a password needs at least ${MIN_PASSWORD_LENGTH} characters; a phrase of several words is easy to remember and hard to guess`);
  }
  if (length > MAX_PASSWORD_LENGTH) {
    throw new PasswordPolicyError(`a password may have at most ${MAX_PASSWORD_LENGTH} characters`);
  }
  if (normalise(password).toLowerCase() === normalise(person).toLowerCase()) {
    throw new PasswordPolicyError('a password may not be the name it signs in with');
  }
}

/** An argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a fresh random salt. */
export function hashPassword(password: string): Promise<string> {
  return hash(normalise(password), HASH_OPTIONS);
}

/** True when `password` matches `hash` (a PHC string from hashPassword). */
export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return verify(hash, normalise(password));
}

/** True when `hash` was made with other parameters than HASH_OPTIONS (hash again at the next sign-in). */
export function needsRehash(hash: string): boolean {
  const used = parseOptions(hash);
  return used.algorithm !== HASH_OPTIONS.algorithm || used.memoryCost !== HASH_OPTIONS.memoryCost
    || used.timeCost !== HASH_OPTIONS.timeCost || used.parallelism !== HASH_OPTIONS.parallelism
    || used.outputLen !== HASH_OPTIONS.outputLen;
}
