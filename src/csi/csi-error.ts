/**
 * A CSI call the plugin refuses, with the gRPC status the kubelet gets for it. The kubelet
 * shows the message in the pod's `FailedMount` event, so it says what to do next.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, ShimmyError } from '../errors.js';

export class CsiRefusal extends ShimmyError {
  /** The gRPC status code on the wire, e.g. `status.INVALID_ARGUMENT`. */
  readonly grpcCode: status;

  constructor(grpcCode: status, problem: string, hint: string) {
    super(ErrorCode.CSI_REFUSED, problem, hint);
    this.name = 'CsiRefusal';
    this.grpcCode = grpcCode;
  }
}

/** The name of a gRPC status code, e.g. `'PERMISSION_DENIED'` (for logs and metrics labels). */
export function statusName(code: status): string {
  return status[code] ?? String(code);
}

/** What a handler's callback gets for `err`: a refusal keeps its code, anything else is INTERNAL. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = err instanceof CsiRefusal ? err.grpcCode : status.INTERNAL;
  const message = err instanceof Error ? err.message : String(err);
  return { code, details: message, message, metadata: new Metadata() };
}
