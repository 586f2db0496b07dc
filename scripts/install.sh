#!/usr/bin/env bash
# `make install`: installs otree-manager on a Debian host that runs Dokku.
#   - the program under $PREFIX/lib/otree-manager (built dist/, schemas, otm web's pages, the manuals,
#     production dependencies) and the `otm` command in $PREFIX/bin;
#   - the system users (sysusers), the backup directory (tmpfiles), the systemd units of the daemon and of
#     otm web;
#   - /etc/otree-manager with its modes: config.yaml, manifests/, secrets/, ssh/, the API token file
#     (existing files are never overwritten);
#   - the nginx site in sites-available (not enabled: it needs the manager's name and certificate first).
# DESTDIR stages everything under another root (packaging, tests); then nothing is started or chowned.
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
lib="$DESTDIR$PREFIX/lib/otree-manager"
etc="$DESTDIR/etc/otree-manager"
log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

[ -f dist/src/cli/main.js ] || die "dist/ is missing: run \`make build\` first"
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then die "run as root (or set DESTDIR to stage the files)"; fi

log "program -> $lib"
rm -rf "$lib/dist" "$lib/web" "$lib/docs"
install -d -m 0755 "$lib" "$lib/dist" "$DESTDIR$PREFIX/bin"
cp -R dist/src dist/schemas "$lib/dist/"
# otm web finds its templates and static files in web/ next to dist/; the units' Documentation= is docs/.
cp -R web docs "$lib/"
install -m 0644 package.json package-lock.json "$lib/"
(cd "$lib" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
chmod 0755 "$lib/dist/src/cli/main.js"
ln -sfn "../lib/otree-manager/dist/src/cli/main.js" "$DESTDIR$PREFIX/bin/otm"

log "systemd units, system users, directories"
install -D -m 0644 systemd/otree-manager.service "$DESTDIR/etc/systemd/system/otree-manager.service"
install -D -m 0644 systemd/otree-manager-web.service "$DESTDIR/etc/systemd/system/otree-manager-web.service"
install -D -m 0644 systemd/otree-manager.service.d/local-transport.conf "$DESTDIR/usr/share/otree-manager/local-transport.conf"
install -D -m 0644 systemd/otree-manager.sysusers.conf "$DESTDIR/etc/sysusers.d/otree-manager.conf"
install -D -m 0644 systemd/otree-manager.tmpfiles.conf "$DESTDIR/etc/tmpfiles.d/otree-manager.conf"
install -D -m 0644 nginx/otree-manager.conf "$DESTDIR/etc/nginx/sites-available/otree-manager.conf"

install -d -m 0750 "$etc" "$etc/manifests" "$etc/secrets"
install -d -m 0700 "$etc/ssh"
if [ ! -e "$etc/config.yaml" ]; then
  install -m 0640 /dev/null "$etc/config.yaml"
  cat >"$etc/config.yaml" <<'YAML'
# yaml-language-server: $schema=/usr/local/lib/otree-manager/dist/schemas/config.schema.json
# otree-manager configuration. Every field: `otm schema Config`. After a change: systemctl reload otree-manager
hosts:
  # The Dokku host. ssh to localhost is the recommended transport (see the manual on Dokku hosts);
  # the local transport needs the drop-in in /usr/share/otree-manager/local-transport.conf.
  - name: local
    transport: { type: ssh, host: 127.0.0.1, user: dokku,
                 identityFile: /etc/otree-manager/ssh/id_ed25519, knownHostsFile: /etc/otree-manager/ssh/known_hosts }
manifestsDir: /etc/otree-manager/manifests
stateDir: /var/lib/otree-manager/state
backupDir: /var/backups/otree-manager
http: { listen: 127.0.0.1:9280, tokenFile: /etc/otree-manager/api-token }
# fromFile secrets only below dirs; keyFile encrypts the secrets stored through the API (docs/operations.md)
secrets: { dirs: [/etc/otree-manager/secrets], keyFile: /etc/otree-manager/secrets.key }
drainSeconds: 30
prune: false
# baseDomain: lab.example.org
# postgresUrl: postgres://otm@127.0.0.1/otm
# redisUrl: redis://127.0.0.1:6379
# otm web (otree-manager-web.service) needs postgresUrl; publicUrl is the nginx site's address.
# web: { publicUrl: https://manager.lab.example.org }
YAML
  log "wrote $etc/config.yaml (edit hosts and baseDomain)"
fi
if [ ! -e "$etc/api-token" ]; then
  install -m 0640 /dev/null "$etc/api-token"
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$etc/api-token"
  log "wrote a new API token to $etc/api-token"
fi
if [ ! -e "$etc/secrets.key" ]; then
  # One key, ID:BASE64(32 bytes); readable by root and the daemon's group (chown below), never by others.
  install -m 0640 /dev/null "$etc/secrets.key"
  printf 'k%s:%s\n' "$(date -u +%Y%m%d)" "$(head -c 32 /dev/urandom | base64 -w0)" >"$etc/secrets.key"
  log "wrote a new secret key to $etc/secrets.key (back it up: stored secrets cannot be read without it)"
fi

if [ -n "$DESTDIR" ]; then
  log "staged under $DESTDIR; on the host run: systemd-sysusers; systemd-tmpfiles --create; systemctl daemon-reload"
  exit 0
fi

systemd-sysusers /etc/sysusers.d/otree-manager.conf
systemd-tmpfiles --create /etc/tmpfiles.d/otree-manager.conf
chown -R root:otree-manager "$etc"
chown otree-manager:otree-manager "$etc/ssh"
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
cat <<EOF
install: done. Next steps:
  1. edit /etc/otree-manager/config.yaml (hosts, baseDomain; postgresUrl/redisUrl if used)
  2. give the daemon its Dokku access (docs/dokku-hosts.md): an ssh key in /etc/otree-manager/ssh, added with
     \`dokku ssh-keys:add otree-manager /etc/otree-manager/ssh/id_ed25519.pub\`, and the host key in known_hosts
  3. put manifests in /etc/otree-manager/manifests and check them: otm validate --config /etc/otree-manager/config.yaml
  4. systemctl enable --now otree-manager
  5. for the web interface (needs postgresUrl): set web.publicUrl, then systemctl enable --now otree-manager-web
     (it runs as otree-manager-web; its mail and single sign-on secrets: group otree-manager-web, mode 0640)
  6. nginx: set the name and certificate in /etc/nginx/sites-available/otree-manager.conf, link it into sites-enabled,
     nginx -t && systemctl reload nginx (the site proxies to otm web)
EOF
