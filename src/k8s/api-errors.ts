/** Reading client-node's ApiException without depending on its generic shape. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;

/** The object a read returns, or undefined when the API server says 404. */
export async function unlessNotFound<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** "HTTP 422: <the API server's Status message>" from a client-node ApiException. */
export function describeApiError(err: unknown): string | undefined {
  const status = statusOf(err);
  if (status === undefined || status < 100) return undefined;
  const body = (err as { body?: unknown }).body;
  let message = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    message = (JSON.parse(String(body)) as { message?: string }).message ?? message;
  } catch {
    /* not a Status object */
  }
  return `the Kubernetes API answered HTTP ${status}: ${message}`;
}

/** One line for a log field, from an Error, a client-node ApiException or anything else. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; body?: unknown; message?: unknown };
    return String(e.message ?? e.body ?? e.code ?? JSON.stringify(err));
  }
  return String(err);
}
