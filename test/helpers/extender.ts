/** Calls a Shimmy scheduler extender the way kube-scheduler does: POST over HTTPS, a fresh connection each time. */
import { request } from 'node:https';

export interface ExtenderCaller {
  /** Client certificate and key (PEM); none: no certificate is offered. */
  cert?: string;
  key?: string;
  /** The CAs the extender's serving certificate is checked against. */
  ca: string;
}

export function callExtender(port: number, verb: 'filter' | 'prioritize', body: unknown, caller: ExtenderCaller): Promise<{ status: number; body: unknown }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: `/${verb}`,
        method: 'POST',
        agent: false,
        ...caller,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let answer = '';
        res.on('data', (d: Buffer) => (answer += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(answer) as unknown }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}
