// OpenSSH public key lines, checked beyond their shape: the base64 blob must decode, name the same key
// type as the line, and (for RSA) be long enough for current OpenSSH defaults.

const MIN_RSA_BITS = 2048;
const ECDSA_CURVES: Record<string, string> = {
  'ecdsa-sha2-nistp256': 'nistp256',
  'ecdsa-sha2-nistp384': 'nistp384',
  'ecdsa-sha2-nistp521': 'nistp521',
};

/** Reads the length-prefixed fields of an SSH wire-format blob; undefined when the blob is truncated. */
function wireFields(blob: Uint8Array): Uint8Array[] | undefined {
  const fields: Uint8Array[] = [];
  let offset = 0;
  while (offset < blob.length) {
    if (offset + 4 > blob.length) return undefined;
    const length = ((blob[offset]! << 24) >>> 0) + (blob[offset + 1]! << 16) + (blob[offset + 2]! << 8) + blob[offset + 3]!;
    offset += 4;
    if (offset + length > blob.length) return undefined;
    fields.push(blob.subarray(offset, offset + length));
    offset += length;
  }
  return fields;
}

function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const ascii = (bytes: Uint8Array | undefined): string => (bytes ? String.fromCharCode(...bytes) : '');

/** Why `line` is not an acceptable public key, or undefined when it is. */
export function sshKeyProblem(line: string): string | undefined {
  const [type = '', data = ''] = line.split(' ');
  const blob = decodeBase64(data);
  if (!blob) return 'the key data is not valid base64';
  const fields = wireFields(blob);
  if (!fields || fields.length === 0) return 'the key data is truncated';
  const embedded = ascii(fields[0]);
  if (embedded !== type) return `the key data is a ${embedded || 'unknown'} key but the line says ${type}`;
  if (type === 'ssh-ed25519') {
    return fields.length === 2 && fields[1]!.length === 32 ? undefined : 'the ed25519 key data is malformed';
  }
  if (type === 'ssh-rsa') {
    const modulus = fields[2];
    if (fields.length !== 3 || !modulus) return 'the RSA key data is malformed';
    const significant = modulus[0] === 0 ? modulus.length - 1 : modulus.length;
    const bits = significant * 8;
    return bits >= MIN_RSA_BITS ? undefined : `the RSA key has ${bits} bits; use at least ${MIN_RSA_BITS} (or an ed25519 key)`;
  }
  const curve = ECDSA_CURVES[type];
  if (fields.length !== 3 || ascii(fields[1]) !== curve) return `the ${type} key data is malformed`;
  return undefined;
}

/** The number of bits `ssh-keygen -l` prints for a key line (the curve's size, the RSA modulus's length); undefined when the line is no acceptable key. */
export function sshKeyBits(line: string): number | undefined {
  if (sshKeyProblem(line) !== undefined) return undefined;
  const [type = '', data = ''] = line.split(' ');
  if (type === 'ssh-ed25519') return 256;
  const fields = wireFields(decodeBase64(data)!)!;
  if (type === 'ssh-rsa') {
    const modulus = fields[2]!;
    const start = modulus.findIndex((byte) => byte !== 0);
    return start < 0 ? 0 : (modulus.length - start - 1) * 8 + Math.floor(Math.log2(modulus[start]!)) + 1;
  }
  return Number(ascii(fields[1]).replace('nistp', ''));
}
