// Every error the HTTP surface answers with has one shape: `{ error: { code, message } }`, plus the
// issue list for rejected manifests. Handlers throw ApiError; the server's error handler renders it.
import type { ManifestIssue } from '../manifest/index.js';

/** Every `error.code` the API answers with (the OpenAPI document lists them too). */
export const ERROR_CODES = [
  'BadRequest',
  'Unauthorized',
  'Forbidden',
  'TooManyRequests',
  'ApiDisabled',
  'NotFound',
  'MethodNotAllowed',
  'Conflict',
  'NoDatabase',
  'NoSecretStore',
  'PayloadTooLarge',
  'LengthRequired',
  'UnsupportedMediaType',
  'Invalid',
  'NotReady',
  'Internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An issue as the API shows it: where, which catalogue code, what to do. */
export interface ApiIssue {
  path: string;
  code: string;
  severity: ManifestIssue['severity'];
  message: string;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; issues?: ApiIssue[] };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
    readonly issues?: ApiIssue[],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) } };
  }
}

export function apiIssues(issues: readonly ManifestIssue[]): ApiIssue[] {
  return issues.map((issue) => ({ path: issue.path, code: issue.code, severity: issue.severity, message: issue.message }));
}

export const notFound = (what: string): ApiError => new ApiError(404, 'NotFound', `${what} is not known here`);
