// Where a person goes after signing in (password or single sign-on): only a path of this site.
const MAX_RETURN_TO_LENGTH = 2048;

function hasControlCharacter(text: string): boolean {
  return [...text].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
}

/**
 * Where to go after signing in: a path on this site, else `/`. A second `/` or a backslash at the
 * start would make browsers leave the site (`//evil.example`, `/\evil.example`), a scheme too, and
 * control characters could split headers; all of them get `/`.
 */
export function localReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_RETURN_TO_LENGTH) return '/';
  if (!value.startsWith('/') || value[1] === '/' || value.includes('\\') || hasControlCharacter(value)) return '/';
  return value;
}
