/**
 * A request with a wire-form JSON body, authenticated as the kubeconfig says. client-node's
 * typed APIs pass bodies through model classes that drop wire spellings such as
 * `x-kubernetes-validations`, so objects we hold in wire form (our CRDs) go this way.
 */
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { ErrorCode, ShimmyError } from '../errors.js';

export async function sendJson(kc: KubeConfig, method: 'POST' | 'PUT', path: string, body: unknown): Promise<unknown> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new ShimmyError(ErrorCode.KUBERNETES_API, 'The kubeconfig has no current cluster', 'Check its current-context');
  const url = new URL(path, server);
  const payload = Buffer.from(JSON.stringify(body));
  const opts: Parameters<typeof request>[1] = {
    method,
    headers: { 'content-type': 'application/json', 'content-length': payload.length, accept: 'application/json' },
  };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON: keep the text */
        }
        if ((res.statusCode ?? 500) >= 300) {
          const message = (parsed as { message?: string })?.message ?? text.slice(0, 300);
          reject(new ShimmyError(ErrorCode.KUBERNETES_API, `${method} ${path} failed (HTTP ${res.statusCode}): ${message}`, "See the API server's message"));
        } else resolve(parsed);
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} timed out after 30 s`)));
    req.on('error', (err) =>
      reject(new ShimmyError(ErrorCode.KUBERNETES_API, `${method} ${path} failed: ${err.message}`, 'Check that the API server is reachable', { cause: err })),
    );
    req.end(payload);
  });
}
