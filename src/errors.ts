/**
 * Every error Shimmy raises, each with a stable code and a hint that says what to do next.
 * A test checks that codes are unique and that each has a row in the table of docs/errors.md.
 */
export const ErrorCode = {
  INVALID_ARGUMENT: 'SHIMMY_ERR_INVALID_ARGUMENT',
  INVALID_NAME: 'SHIMMY_ERR_INVALID_NAME',
  INVALID_SIZE: 'SHIMMY_ERR_INVALID_SIZE',
  MISSING_ENV: 'SHIMMY_ERR_MISSING_ENV',
  INVALID_ENV: 'SHIMMY_ERR_INVALID_ENV',
  NATIVE_UNAVAILABLE: 'SHIMMY_ERR_NATIVE_UNAVAILABLE',
  SEGMENT_NOT_FOUND: 'SHIMMY_ERR_SEGMENT_NOT_FOUND',
  SEGMENT_EXISTS: 'SHIMMY_ERR_SEGMENT_EXISTS',
  PERMISSION_DENIED: 'SHIMMY_ERR_PERMISSION_DENIED',
  SIZE_MISMATCH: 'SHIMMY_ERR_SIZE_MISMATCH',
  SYSTEM_LIMIT: 'SHIMMY_ERR_SYSTEM_LIMIT',
  SYSCALL_FAILED: 'SHIMMY_ERR_SYSCALL_FAILED',
  CORRUPT_HEADER: 'SHIMMY_ERR_CORRUPT_HEADER',
  CORRUPT_RING: 'SHIMMY_ERR_CORRUPT_RING',
  VERSION_MISMATCH: 'SHIMMY_ERR_VERSION_MISMATCH',
  KEY_COLLISION: 'SHIMMY_ERR_KEY_COLLISION',
  UNTRUSTED_SEGMENT: 'SHIMMY_ERR_UNTRUSTED_SEGMENT',
  NOT_INITIALIZED: 'SHIMMY_ERR_NOT_INITIALIZED',
  WRONG_MODE: 'SHIMMY_ERR_WRONG_MODE',
  MESSAGE_TOO_LARGE: 'SHIMMY_ERR_MESSAGE_TOO_LARGE',
  NO_FREE_SLOT: 'SHIMMY_ERR_NO_FREE_SLOT',
  PUBLISHER_CONFLICT: 'SHIMMY_ERR_PUBLISHER_CONFLICT',
  CLOSED: 'SHIMMY_ERR_CLOSED',
  TIMEOUT: 'SHIMMY_ERR_TIMEOUT',
  ABORTED: 'SHIMMY_ERR_ABORTED',
  PEER_UNAVAILABLE: 'SHIMMY_ERR_PEER_UNAVAILABLE',
  TRANSPORT_FAILED: 'SHIMMY_ERR_TRANSPORT_FAILED',
  UNAUTHENTICATED: 'SHIMMY_ERR_UNAUTHENTICATED',
  INVALID_SELECTOR: 'SHIMMY_ERR_INVALID_SELECTOR',
  BAD_ADMISSION_REVIEW: 'SHIMMY_ERR_BAD_ADMISSION_REVIEW',
  BAD_EXTENDER_ARGS: 'SHIMMY_ERR_BAD_EXTENDER_ARGS',
  KUBERNETES_API: 'SHIMMY_ERR_KUBERNETES_API',
  WEBHOOK_TLS: 'SHIMMY_ERR_WEBHOOK_TLS',
  DEV_CLUSTER: 'SHIMMY_ERR_DEV_CLUSTER',
  DEMO_FAILED: 'SHIMMY_ERR_DEMO_FAILED',
  CSI_REFUSED: 'SHIMMY_ERR_CSI_REFUSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ShimmyError extends Error {
  readonly code: ErrorCode;
  /** What the caller should do about it; also part of `message`. */
  readonly hint: string;

  constructor(code: ErrorCode, problem: string, hint: string, options?: { cause?: unknown }) {
    super(hint ? `${problem}. ${hint}` : problem, options);
    this.name = 'ShimmyError';
    this.code = code;
    this.hint = hint;
  }
}

export function isShimmyError(err: unknown, code?: ErrorCode): err is ShimmyError {
  return err instanceof ShimmyError && (code === undefined || err.code === code);
}
