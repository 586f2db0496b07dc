// Where participants and experimenters reach an instance.

import type { OTreeInstance, Room } from '../manifest/types.js';
import type { ObservedApp } from '../observed/types.js';

/**
 * The instance's base URLs: its declared domains, or `<name>.<baseDomain>` when none are declared.
 * https once a Let's Encrypt certificate is active, http before.
 */
export function instanceUrls(instance: OTreeInstance, baseDomain: string | undefined, observed?: ObservedApp): string[] {
  const hosts = instance.spec.domains.length > 0
    ? instance.spec.domains
    : baseDomain ? [`${instance.metadata.name}.${baseDomain}`] : [];
  const scheme = instance.spec.tls.letsencrypt && observed?.letsencrypt.active ? 'https' : 'http';
  return hosts.map((host) => `${scheme}://${host}`);
}

/** One link per participant label: oTree's room URL `/room/<room>?participant_label=<label>`. */
export function participantUrls(baseUrl: string, room: Room): { label: string; url: string }[] {
  const base = baseUrl.replace(/\/+$/, '');
  return room.participantLabels.map((label) => ({
    label,
    url: `${base}/room/${encodeURIComponent(room.name)}?participant_label=${encodeURIComponent(label)}`,
  }));
}
