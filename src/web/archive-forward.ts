// otm web's sink for uploaded archives: the body goes on, streamed, to the daemon's loopback API (which
// alone holds the Dokku transport) with the service token, in the uploader's name (X-Otm-Author), and
// every upload is audited here: who, which instance, how many bytes, the sha256, how it ended.
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ArchiveDeployResult, ArchiveSink } from '../http/archive-api.js';
import { ApiError, ERROR_CODES } from '../http/errors.js';
import type { ErrorCode } from '../http/errors.js';
import { audit } from '../store/audit.js';

/** A build may take as long as the daemon's command time limit; the daemon answers or times out itself. */
const FORWARD_TIMEOUT_MS = 35 * 60_000;

async function readJson(response: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

export function daemonArchives(options: { url: string; token: string; pool: pg.Pool; log: Logger }): ArchiveSink {
  const { url, token, pool, log } = options;
  return {
    async deploy(name, upload) {
      const target = new URL(`${url}/api/v1/instances/${encodeURIComponent(name)}/archive?type=${encodeURIComponent(upload.type)}`);
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      let outcome: { status: number; body: unknown };
      try {
        outcome = await new Promise((resolve, reject) => {
          const req = send(target, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/octet-stream',
              'content-length': String(upload.bytes), 'x-otm-author': upload.by.actor,
            },
            timeout: FORWARD_TIMEOUT_MS,
          }, (response) => {
            readJson(response).then((body) => resolve({ status: response.statusCode ?? 502, body }), reject);
          });
          req.once('timeout', () => req.destroy(new Error('no answer in time')));
          req.once('error', reject);
          pipeline(upload.stream, req).catch((err: Error) => req.destroy(err));
        });
      } catch (err) {
        await record('failed', { error: (err as Error).message });
        throw new ApiError(503, 'NotReady', `the daemon at ${url} (web.daemon.url) did not take the upload: ${(err as Error).message}; is otree-manager.service running?`);
      }
      const { status, body } = outcome;
      if (status === 200) {
        const result = body as ArchiveDeployResult;
        await record(result.success ? 'deployed' : 'build-failed', { exitCode: result.exitCode, ...(result.failure ? { failure: result.failure } : {}) });
        return result;
      }
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      await record('refused', { status, code: error?.code ?? null });
      const code = (ERROR_CODES as readonly string[]).includes(error?.code ?? '') ? error!.code as ErrorCode : 'Internal';
      throw new ApiError(status >= 400 && status < 600 ? status : 502, code, error?.message ?? `the daemon answered HTTP ${status}`);

      async function record(result: string, details: Record<string, unknown>): Promise<void> {
        await audit(pool, {
          actor: upload.by.actor, action: 'instance.archive.upload', objectKind: 'OTreeInstance', objectName: name,
          ...(upload.by.clientAddress !== undefined ? { clientAddress: upload.by.clientAddress } : {}),
          ...(upload.by.authMethod !== undefined ? { authMethod: upload.by.authMethod } : {}),
          details: { archiveType: upload.type, bytes: upload.meter.bytes, sha256: upload.meter.sha256() ?? null, result, ...details },
        }).catch((err: Error) => log.error({ instance: name, err: err.message }, 'auditing an archive upload failed'));
      }
    },
  };
}
