/**
 * Helpers for tests that talk to the emulator over plain HTTPS (node:https with the emulator's CA),
 * so the emulator is proven without any library code.
 */
import { request } from 'node:https';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator';

export interface RawRequest {
  method?: string;
  /** Path and query, e.g. `/api/data/v9.2/accounts?$top=1`, or a full `https://127.0.0.1:PORT/…` URL. */
  path: string;
  headers?: Record<string, string>;
  /** A string or Buffer is sent as is; a URLSearchParams as a form; anything else as JSON. */
  body?: string | Buffer | URLSearchParams | object;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** `body` parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** Starts an emulator on a free port; call `close()` in afterAll. */
export function startTestEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({ port: 0, ...options });
}

/** One HTTPS request to the emulator, trusting its CA; never rejects on an HTTP status. */
export function httpsRequest(emulator: Pick<Emulator, 'url' | 'caPem'>, req: RawRequest): Promise<RawResponse> {
  const url = new URL(req.path, emulator.url);
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  let payload: Buffer | undefined;
  if (req.body instanceof URLSearchParams) {
    payload = Buffer.from(req.body.toString());
    headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
  } else if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) {
    payload = Buffer.from(req.body);
  } else if (req.body !== undefined) {
    payload = Buffer.from(JSON.stringify(req.body));
    headers['Content-Type'] ??= 'application/json';
  }
  if (payload) headers['Content-Length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const r = request(
      url,
      { method: req.method ?? (payload ? 'POST' : 'GET'), headers, ca: emulator.caPem, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    if (payload) r.write(payload);
    r.end();
  });
}

/** POSTs a form to a token endpoint (v2 by default) and returns the parsed response. */
export function tokenRequest(
  emulator: Emulator,
  form: Record<string, string>,
  options: { v1?: boolean; tenant?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const tenant = options.tenant ?? emulator.tenantId;
  const path = options.v1 ? `/${tenant}/oauth2/token` : `/${tenant}/oauth2/v2.0/token`;
  return httpsRequest(emulator, { method: 'POST', path, body: new URLSearchParams(form), headers: options.headers });
}

/** A client-credentials access token for the emulator's environment (v2 endpoint, `.default`). */
export async function appToken(emulator: Emulator): Promise<string> {
  const res = await tokenRequest(emulator, {
    grant_type: 'client_credentials',
    client_id: emulator.client.clientId,
    client_secret: emulator.client.clientSecret,
    scope: `${emulator.url}/.default`,
  });
  const body = res.json as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token request failed: ${res.status} ${res.body}`);
  return body.access_token;
}

/** A delegated access token for the emulator's default user (password grant, v2 endpoint). */
export async function userToken(emulator: Emulator): Promise<string> {
  const res = await tokenRequest(emulator, {
    grant_type: 'password',
    client_id: emulator.client.clientId,
    client_secret: emulator.client.clientSecret,
    username: emulator.user.username,
    password: emulator.user.password,
    scope: `${emulator.url}/user_impersonation`,
  });
  const body = res.json as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token request failed: ${res.status} ${res.body}`);
  return body.access_token;
}
