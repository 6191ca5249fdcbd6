/**
 * The error catalogue. Every error a user can see has a stable code, an HTTP status and a
 * message template. Codes are never reused once retired.
 */
export const ERRORS = {
  RH_SETTINGS_INVALID: { status: 500, message: 'Invalid server setting %s: %s' },
  RH_UNAUTHORIZED: { status: 401, message: 'You must log in first.' },
  RH_FORBIDDEN: { status: 403, message: 'Permission denied.' },
  RH_NOT_FOUND: { status: 404, message: '%s not found.' },
  RH_BAD_REQUEST: { status: 400, message: '%s' },
  RH_CONFLICT: { status: 409, message: '%s' },
  RH_PROJECT_EXISTS: { status: 409, message: 'Project %s already exists.' },
  RH_REPO_UNREADABLE: { status: 400, message: 'Cannot read git repository %s: %s' },
  RH_REF_NOT_FOUND: { status: 400, message: 'Branch or tag %s not found in %s.' },
  RH_JOB_NOT_CLAIMED: { status: 409, message: 'Job %s is not running on this executor.' },
  RH_INTERNAL: { status: 500, message: 'Internal server error.' },
  RH_SUSPENDED: { status: 401, message: 'This account is suspended; an administrator can reactivate it.' },
  RH_LOGIN_REFUSED: { status: 403, message: '%s' },
  RH_GITHUB: { status: 502, message: 'GitHub could not be reached or failed: %s' },
  RH_CSRF: { status: 403, message: 'Missing or wrong X-CSRF-Token header (required with session cookies).' },
  RH_CONTEXT_LIMIT: { status: 400, message: '%s' },
  RH_WEBHOOK_SIGNATURE: { status: 401, message: 'Webhook signature missing or invalid.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class RoundhouseError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  constructor(code: ErrorCode, ...args: (string | number)[]) {
    let i = 0;
    const msg = ERRORS[code].message.replace(/%s/g, () => String(args[i++] ?? ''));
    super(msg);
    this.code = code;
    this.statusCode = ERRORS[code].status;
  }
}

export const notFound = (what: string) => new RoundhouseError('RH_NOT_FOUND', what);
export const badRequest = (msg: string) => new RoundhouseError('RH_BAD_REQUEST', msg);
