// Every English sentence of the profile page (/profile), in one place: a translation is another object
// of this shape. The template gets it as `it.pt`; what needs a value is a function.

export const profileText = {
  title: 'Your profile',
  intro: (name: string) => `You sign in as ${name}.`,
  toc: 'On this page',
  sections: { keys: 'SSH public keys', name: 'Your name', tokens: 'Personal API tokens', sessions: 'Where you are signed in', password: 'Password' },

  keys: {
    what: 'git push to your instances works with the keys listed here. The manager installs a key on the Dokku host a moment after you add it and removes it a moment after you remove it.',
    none: 'No keys yet: add one to deploy with git push.',
    columns: { type: 'Type', fingerprint: 'Fingerprint (SHA256)', comment: 'Comment', actions: 'Actions' },
    noComment: 'no comment',
    remove: 'Remove',
    removeLabel: (fingerprint: string) => `Remove the key ${fingerprint}`,
    notInstalled: 'Not installed: its Dokku key name would contain "admin", which Dokku treats as an administrator. Ask a lab admin.',
    managedInFile: (file: string) => `Your keys are managed by the lab admin in the manifest file ${file}; ask them to add or remove one.`,
    add: 'Add a key',
    pasteLabel: 'Public key',
    pasteHelp: 'Paste the whole content of your public key file, the one ending in .pub (for example ~/.ssh/id_ed25519.pub): one line starting with ssh-ed25519, ecdsa-sha2-nistp256 or ssh-rsa. Never paste the file without .pub: that is your private key.',
    howToSummary: 'No key yet? How to make one',
    howTo: {
      make: 'In a terminal (PowerShell on Windows, Terminal on macOS and Linux) make a key, pressing Enter at each question:',
      show: 'Then show its public key, and copy all of it into the field above:',
      windows: 'On Windows:',
      unix: 'On macOS and Linux:',
    },
    addButton: 'Add key',
    errors: {
      empty: 'Paste a public key first.',
      tooLong: (max: number) => `That is longer than any public key (${max} characters at most); paste only the content of the .pub file.`,
      privateKey: 'That is a private key. Never paste it anywhere: it stays on your computer. Paste the public key instead, the content of the file ending in .pub.',
      puttyPrivate: 'That is a PuTTY private key (.ppk). Paste the public key instead: in PuTTYgen, load the key and copy the box "Public key for pasting into OpenSSH authorized_keys file".',
      severalKeys: 'Paste one key at a time.',
      severalLines: 'Paste the key as one line, exactly as the .pub file holds it.',
      dsa: 'DSA keys are no longer accepted by OpenSSH. Make an ed25519 key (ssh-keygen -t ed25519) and paste its .pub file.',
      securityKey: 'Security-key (FIDO) ssh keys are not supported here yet. Paste an ed25519, ecdsa or rsa key.',
      unknownType: 'That is not an OpenSSH public key: it should start with ssh-ed25519, ecdsa-sha2-nistp256 (or 384, 521) or ssh-rsa, then the key data.',
      options: 'Remove the options in front of the key type (they belong in authorized_keys files); paste the key from its type on.',
      notBase64: 'The key data after the type is damaged (it is not base64); copy the .pub file again, in one piece.',
      invalid: (problem: string) => `The key is not accepted: ${problem}.`,
      duplicate: 'That key is already on your profile.',
      takenByOther: 'That key is already on another person\'s profile. Dokku accepts each key only once: use a key of your own.',
      notFound: 'That key is not on your profile (any more).',
    },
  },

  name: {
    what: 'Shown on the pages and in the lists of the lab\'s admins.',
    label: 'Display name',
    save: 'Save name',
    errors: { empty: 'Give a display name.', tooLong: (max: number) => `A display name has at most ${max} characters.` },
  },

  tokens: {
    what: 'A personal token lets a script or the otm command act as you through the API (Authorization: Bearer …). It never does more than you may; a read token only reads.',
    none: 'No tokens.',
    columns: { label: 'Label', scope: 'Scope', created: 'Created', expires: 'Expires', lastUsed: 'Last used', actions: 'Actions' },
    scopes: { read: 'read', write: 'read and write' },
    never: 'never',
    notUsed: 'not yet',
    revoke: 'Revoke',
    revokeLabel: (label: string) => `Revoke the token ${label}`,
    create: 'Create a token',
    labelLabel: 'Label: what it is for',
    scopeLegend: 'Scope',
    scopeRead: 'Read: look at instances, status and events',
    scopeWrite: 'Read and write: also change, restart and deploy',
    expiresLabel: 'Expires after',
    expiresOptions: { 7: '7 days', 30: '30 days', 90: '90 days', 365: '1 year', never: 'never' } as Record<string, string>,
    createButton: 'Create token',
    created: (label: string) => `The token "${label}" is made. Copy it now: it is shown only this once and cannot be shown again.`,
    copy: 'Copy',
    copied: 'Copied',
    errors: {
      label: (max: number) => `Give the token a label of 1 to ${max} characters.`,
      scope: 'Choose read or read and write.',
      expires: 'Choose when the token expires.',
      notFound: 'That token is not one of yours, or it is already revoked.',
    },
  },

  sessions: {
    what: 'Each browser you signed in with. Sign out the ones you do not recognise.',
    columns: { browser: 'Browser', address: 'From', started: 'Signed in', lastSeen: 'Last active', how: 'How', actions: 'Actions' },
    methods: { password: 'password', oidc: 'single sign-on', invite: 'invitation link', reset: 'password reset link' } as Record<string, string>,
    current: 'this browser',
    unknownBrowser: 'unknown browser',
    revoke: 'Sign out',
    revokeLabel: (browser: string, address: string) => `Sign out the session of ${browser} from ${address}`,
    revokeOthers: 'Sign out all other sessions',
    noOthers: 'You are signed in nowhere else.',
    errors: { notFound: 'That session has already ended, or is not yours.' },
  },

  password: {
    what: (min: number) => `At least ${min} characters. A phrase of several words is easy to remember and hard to guess. Changing it signs you out everywhere else; your personal tokens keep working.`,
    current: 'Current password',
    new: 'New password',
    confirm: 'The new password again',
    change: 'Change password',
    ssoOnly: (provider: string) => `You sign in with ${provider}; you have no password here to change.`,
    errors: {
      wrongCurrent: 'The current password is wrong; nothing was changed.',
      tooMany: (minutes: number) => `Too many wrong passwords; try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
      mismatch: 'The two new passwords differ; type the same one twice.',
    },
  },

  outcome: {
    keyAdded: 'The key is added. The manager installs it on the Dokku host in a moment; then git push works with it.',
    keyRemoved: 'The key is removed. The manager removes it from the Dokku host in a moment.',
    nameSaved: 'Your display name is saved.',
    tokenRevoked: 'The token is revoked: it no longer works.',
    sessionRevoked: 'That session is signed out.',
    othersRevoked: (n: number) => (n === 0 ? 'You were signed in nowhere else.' : `${n} other session${n === 1 ? ' is' : 's are'} signed out.`),
    passwordChanged: (n: number) => `Your password is changed. ${n === 0 ? 'You were signed in nowhere else.' : `${n} other session${n === 1 ? ' was' : 's were'} signed out.`}`,
    pending: 'Saved; it may take a moment before this page shows the change.',
  },

  /** The field an error is about, as the error names it (the `name` of its input). */
  fields: {
    key: 'Public key', fingerprint: 'SSH public keys', displayName: 'Display name', label: 'Label', scope: 'Scope', expires: 'Expires after',
    token: 'Personal API tokens', session: 'Sessions', current: 'Current password', password: 'New password', confirm: 'The new password again',
  } as Record<string, string>,
  unavailable: 'This cannot be saved right now; try again in a moment.',
};

export type ProfileText = typeof profileText;
