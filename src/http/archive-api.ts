// POST /api/v1/instances/:name/archive: deploy an uploaded oTree project (an `.otreezip`, which is a zip,
// or a tar / tar.gz) without git. One route on both mounts: it authorises (verb `deploy`), checks that
// the instance is one the controller will not deploy over (its source is `push`), bounds the size, and
// hands the body on as a stream, metered (bytes, sha256) and never buffered whole, to the mount's sink:
// the daemon runs `git:from-archive --archive-type <type> <app> --` with it; otm web forwards it to the
// daemon's loopback API and audits the upload.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Readable, TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { InstanceVerb } from '../access/can.js';
import { ArchiveRefused } from '../engine/archive-deploy.js';
import type { ArchiveBuild, ArchiveBuildInput, ArchiveRefusalReason } from '../engine/archive-deploy.js';
import { ARCHIVE_TYPES } from '../reconcile/commands.js';
import type { ArchiveType } from '../reconcile/commands.js';
import type { Actor } from '../store/audit.js';
import { ApiError } from './errors.js';
import { answers, AUTHENTICATED, closedObject } from './openapi.js';
import { actorOf } from './principal.js';
import type { DesiredView } from './api.js';

/** The largest archive accepted (nginx/otree-manager.conf says the same: `client_max_body_size 64m`). */
export const ARCHIVE_LIMIT_BYTES = 64 * 1024 * 1024;

/** Content types and the archive type each means. `application/octet-stream` needs `?type=`. */
const TYPE_OF_CONTENT: Record<string, ArchiveType> = {
  'application/zip': 'zip',
  'application/x-zip-compressed': 'zip',
  'application/gzip': 'tar.gz',
  'application/x-gzip': 'tar.gz',
  'application/x-tar': 'tar',
};
const OCTET_STREAM = 'application/octet-stream';

/** Counts and hashes what passes; fails the stream once more than `limit` bytes came. */
export class ArchiveMeter extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private digest: string | undefined;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(tooLarge(this.limit));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    callback();
  }
  /** The archive's sha256 (hex) once the stream has ended; undefined before (or when it broke off). */
  sha256(): string | undefined {
    return this.digest;
  }
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'PayloadTooLarge', `the archive is larger than ${limit / (1024 * 1024)} MiB (${limit} bytes), the limit for uploads; `
    + 'leave out what the server does not need (`otree zip` packs only the project) and try again');
}

export interface ArchiveUpload {
  /** The body, metered: read it once, to its end. */
  stream: Readable;
  meter: ArchiveMeter;
  type: ArchiveType;
  /** The body's Content-Length. */
  bytes: number;
  by: Actor;
  request: FastifyRequest;
}

/** What the build printed (secrets masked) and how it ended. */
export interface ArchiveDeployResult extends ArchiveBuild {
  name: string;
  archiveType: ArchiveType;
  bytes: number;
  sha256: string;
}

/** Where a mount sends an upload: the daemon's driver, or (otm web) the daemon's API. */
export interface ArchiveSink {
  deploy(name: string, upload: ArchiveUpload): Promise<ArchiveDeployResult>;
}

export interface ArchiveApiDeps {
  desired: DesiredView;
  authorizeInstance(request: FastifyRequest, name: string, verb: InstanceVerb): void;
  /** Undefined until the mount can deploy (the daemon has observed its hosts; otm web has a daemon token). */
  archives?: () => ArchiveSink | undefined;
}

const RESULT_FIELDS = closedObject({
  name: { type: 'string' }, host: { type: 'string' }, archiveType: { type: 'string', enum: [...ARCHIVE_TYPES] },
  bytes: { type: 'integer' }, sha256: { type: 'string' },
  success: { type: 'boolean' }, exitCode: { type: 'integer' }, failure: { type: 'string' }, message: { type: 'string' },
  durationMs: { type: 'integer' },
  output: closedObject({ stdout: { type: 'array', items: { type: 'string' } }, stderr: { type: 'array', items: { type: 'string' } }, truncated: { type: 'boolean' } }),
}, 'The build ran: its output (secrets masked) and outcome. A failed build answers 200 too, with success false') as { required: string[] };
/** `failure` only when the build failed. */
const RESULT = { ...RESULT_FIELDS, required: RESULT_FIELDS.required.filter((field) => field !== 'failure') };

/** The archive type of a request: `?type=`, else its Content-Type. */
function archiveTypeOf(request: FastifyRequest<{ Querystring: { type?: string } }>): ArchiveType {
  const asked = request.query.type;
  if (asked !== undefined) {
    if (!(ARCHIVE_TYPES as readonly string[]).includes(asked)) throw new ApiError(400, 'BadRequest', `?type=${asked} is not an archive type; use one of ${ARCHIVE_TYPES.join(', ')}`);
    return asked as ArchiveType;
  }
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const type = TYPE_OF_CONTENT[contentType];
  if (type) return type;
  throw new ApiError(415, 'UnsupportedMediaType', contentType === OCTET_STREAM || contentType === ''
    ? `say which archive this is: add ?type=${ARCHIVE_TYPES.join('|')} (an .otreezip is a zip), or send Content-Type application/zip, application/gzip or application/x-tar`
    : `send the archive's bytes as application/zip (an .otreezip), application/gzip (tar.gz), application/x-tar, or application/octet-stream with ?type=; not ${contentType}`);
}

export function registerArchiveApi(app: FastifyInstance, deps: ArchiveApiDeps): void {
  // A scope of its own: only this route takes archives, raw and unbuffered (the server's 1 MiB body
  // limit applies to parsed bodies only; this route enforces its own).
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.post<{ Params: { name: string }; Querystring: { type?: string } }>('/api/v1/instances/:name/archive', {
      schema: {
        operationId: 'deployInstanceArchive', tags: ['instances'],
        summary: `Deploy an uploaded oTree project (an .otreezip or a tar/tar.gz archive, at most ${ARCHIVE_LIMIT_BYTES / (1024 * 1024)} MiB) to an instance whose source is push`,
        params: {
          type: 'object', required: ['name'],
          properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$', description: 'The instance' } },
        },
        querystring: {
          type: 'object',
          properties: { type: { type: 'string', enum: [...ARCHIVE_TYPES], description: 'The archive type; by default the Content-Type says (application/zip, application/gzip, application/x-tar)' } },
        },
        response: answers(RESULT, [...AUTHENTICATED, 404, 409, 411, 413, 415, 503]),
      },
    }, async (request, reply) => {
      const { name } = request.params;
      // Anything refused here is refused before a byte is read: nothing runs.
      void reply.header('connection', 'close');
      deps.authorizeInstance(request, name, 'deploy');
      const declared = deps.desired.instance(name);
      if (!declared) throw new ApiError(404, 'NotFound', `instance "${name}" is not declared; declare it before deploying to it`);
      const { source } = declared.declared.object.spec;
      if (!('push' in source)) {
        const kind = Object.keys(source)[0] ?? 'another source';
        throw new ApiError(409, 'Conflict', `instance "${name}" deploys from its declared source (${kind}): an uploaded archive would be replaced on the next reconcile. `
          + 'Set spec.source to {push: {}} to deploy by upload or git push');
      }
      const length = request.headers['content-length'];
      if (length === undefined || !/^\d+$/.test(length)) {
        throw new ApiError(411, 'LengthRequired', 'send the archive with a Content-Length header (curl --data-binary @project.otreezip does)');
      }
      const bytes = Number(length);
      if (bytes > ARCHIVE_LIMIT_BYTES) throw tooLarge(ARCHIVE_LIMIT_BYTES);
      if (bytes === 0) throw new ApiError(400, 'BadRequest', 'the body is empty; send the archive\'s bytes');
      const type = archiveTypeOf(request);
      const sink = deps.archives?.();
      if (!sink) throw new ApiError(503, 'NotReady', 'deploying archives is not available yet: the daemon is starting (or otm web has no daemon token); retry later');
      const meter = new ArchiveMeter(ARCHIVE_LIMIT_BYTES);
      const body = request.body as Readable;
      body.once('error', (err) => meter.destroy(err));
      body.pipe(meter);
      const result = await sink.deploy(name, { stream: meter, meter, type, bytes, by: actorOf(request), request });
      void reply.removeHeader('connection');
      return result;
    });
  });
}

/** What the daemon's sink needs of the controller. */
export interface ArchiveBuilder {
  deployArchive(name: string, input: ArchiveBuildInput): Promise<ArchiveBuild>;
}

const REFUSAL_STATUS: Record<ArchiveRefusalReason, 404 | 409 | 503> = {
  NotDeclared: 404, NotLeader: 503, UnknownHost: 409, NotCreated: 409, Frozen: 409, DeployLocked: 409,
};

/** The daemon's sink: the controller builds the archive on the instance's host. */
export function controllerArchives(builder: ArchiveBuilder): ArchiveSink {
  return {
    async deploy(name, upload) {
      let build: ArchiveBuild;
      try {
        build = await builder.deployArchive(name, { stream: upload.stream, type: upload.type, by: upload.by.actor });
      } catch (err) {
        if (err instanceof ArchiveRefused) {
          const status = REFUSAL_STATUS[err.reason];
          throw new ApiError(status, status === 404 ? 'NotFound' : status === 503 ? 'NotReady' : 'Conflict', err.message);
        }
        throw err;
      }
      // What the build did not read is drained; the digest is there once the body has ended.
      await finished(upload.stream).catch(() => undefined);
      return { name, archiveType: upload.type, bytes: upload.meter.bytes, sha256: upload.meter.sha256() ?? '', ...build };
    },
  };
}
