import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';

/**
 * The proxy from the environment for `target`, following the usual conventions (`HTTPS_PROXY` /
 * `HTTP_PROXY` / `ALL_PROXY`, lower case first, and `NO_PROXY` with `*`, host suffixes and ports), or
 * undefined when none applies. A value without a scheme is taken as `http://`.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const scheme = target.protocol === 'https:' ? 'https' : 'http';
  const proxy = env[`${scheme}_proxy`] || env[`${scheme.toUpperCase()}_PROXY`] || env.all_proxy || env.ALL_PROXY;
  if (!proxy) return undefined;
  const noProxy = (env.no_proxy || env.NO_PROXY || '').trim();
  if (noProxy === '*') return undefined;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (scheme === 'https' ? '443' : '80');
  for (const entry of noProxy.split(/[\s,]+/)) {
    if (entry === '') continue;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry.toLowerCase()) as RegExpExecArray;
    const pattern = m[1].replace(/^\*/, '');
    if (m[2] && m[2] !== port) continue;
    if (pattern.startsWith('.') ? host.endsWith(pattern) || host === pattern.slice(1) : host === pattern || host.endsWith(`.${pattern}`)) return undefined;
  }
  try {
    const url = new URL(proxy.includes('://') ? proxy : `http://${proxy}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported proxy scheme ${url.protocol}`);
    return url;
  } catch (error) {
    // The variable may hold credentials: name it, never echo it.
    throw new TypeError(`the ${scheme.toUpperCase()}_PROXY/ALL_PROXY variable is not an http:// or https:// proxy URL (${(error as Error).message.replace(proxy, '…')})`);
  }
}

/** The proxy's origin without credentials, for messages. */
function proxyName(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

/**
 * Why a tunnel could not be opened. `code` tells the retry policy whether anything reached the
 * service: nothing ever does before the proxy answers `200` to `CONNECT`.
 */
export class TunnelError extends Error {
  override name = 'TunnelError';
  constructor(
    message: string,
    /** `ERR_TUNNEL_REFUSED`: the proxy answered 4xx (final); `ERR_TUNNEL_FAILED`: no answer, or a 5xx (worth a retry). */
    readonly code: 'ERR_TUNNEL_REFUSED' | 'ERR_TUNNEL_FAILED',
  ) {
    super(message);
  }
}

/** What node's Agent passes to `createConnection` (the request's options merged with the agent's), plus ours. */
interface ConnectOptions extends tls.ConnectionOptions {
  host?: string;
  hostname?: string;
  port?: number;
  path?: string;
  /** Bounds the `CONNECT` exchange; the transport sets it to the request's remaining time. */
  tunnelTimeoutInMs?: number;
}

type OnCreate = (error: Error | null, socket?: Duplex) => void;

/**
 * Opens a connection to the origin through an HTTP(S) proxy with `CONNECT` (RFC 9110 §9.3.6), then TLS
 * to the origin end to end, so the proxy sees neither URLs nor headers. Written here rather than taken
 * from axios's http adapter, whose tunnel (https-proxy-agent 5) never notices a proxy closing the
 * connection before answering `CONNECT`: the request then waits out `timeoutInMs` (5 minutes by default)
 * instead of failing at once and being retried. Every way the exchange can end is settled exactly once.
 */
function openTunnel(proxy: URL, proxyAuthorization: string | undefined, pending: Set<http.ClientRequest>, options: ConnectOptions, secure: boolean, done: OnCreate): void {
  const host = (options.host ?? 'localhost').replace(/^\[|\]$/g, '');
  const port = options.port ?? (secure ? 443 : 80);
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const request = proxy.protocol === 'https:' ? https.request : http.request;
  let settled = false;
  const fail = (message: string, code: TunnelError['code']) => {
    if (settled) return;
    settled = true;
    pending.delete(connect);
    connect.destroy();
    done(new TunnelError(message, code));
  };
  const connect = request({
    host: proxy.hostname.replace(/^\[|\]$/g, ''),
    port: proxy.port === '' ? undefined : Number(proxy.port),
    method: 'CONNECT',
    path: authority,
    // One proxy connection per tunnel: the tunnel then lives as long as the pooled origin connection.
    agent: false,
    setHost: false,
    headers: { Host: authority, ...(proxyAuthorization !== undefined ? { 'Proxy-Authorization': proxyAuthorization } : {}) },
  });
  pending.add(connect);
  const timeout = options.tunnelTimeoutInMs;
  if (timeout !== undefined && timeout > 0) {
    connect.setTimeout(timeout, () => fail(`the proxy ${proxyName(proxy)} did not answer CONNECT ${authority} within ${timeout} ms`, 'ERR_TUNNEL_FAILED'));
  }
  connect.once('error', (error: NodeJS.ErrnoException) =>
    fail(`could not open a tunnel to ${authority} through the proxy ${proxyName(proxy)}: ${error.message}${error.code ? ` (${error.code})` : ''}`, 'ERR_TUNNEL_FAILED'),
  );
  // A connection closed before any answer is an 'error' (socket hang up); this is the backstop.
  connect.once('close', () => fail(`the proxy ${proxyName(proxy)} closed the connection before answering CONNECT ${authority}`, 'ERR_TUNNEL_FAILED'));
  // node hands every answer to CONNECT, whatever its status, to 'connect'.
  connect.once('connect', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const status = res.statusCode ?? 0;
    if (settled) {
      // The request gave up (timeout, agent destroyed) while the proxy was answering.
      socket.destroy();
      return;
    }
    if (status < 200 || status > 299) {
      socket.destroy();
      // A 4xx (407 without credentials, 403 by policy) will not change on a re-send; a 5xx means the proxy could not reach the origin.
      fail(`the proxy ${proxyName(proxy)} refused CONNECT ${authority}: ${`${status} ${res.statusMessage ?? ''}`.trim()}`, status >= 400 && status < 500 ? 'ERR_TUNNEL_REFUSED' : 'ERR_TUNNEL_FAILED');
      return;
    }
    settled = true;
    pending.delete(connect);
    connect.setTimeout(0);
    // Bytes right behind the proxy's answer belong to the tunnel (only possible for plain HTTP: a TLS client speaks first).
    if (head.length > 0) socket.unshift(head);
    if (!secure) {
      done(null, socket);
      return;
    }
    const { tunnelTimeoutInMs: _timeout, hostname: _hostname, port: _port, path: _path, ...tlsOptions } = options;
    // `host` is what the certificate is checked against. node's Agent has already left `servername`
    // empty for an IP address, which is not a valid TLS server name (RFC 6066 §3; node warns, DEP0123).
    done(null, tls.connect({ ...tlsOptions, host, servername: options.servername ?? (isIP(host) === 0 ? host : ''), socket }));
  });
  connect.end();
}

/** `Proxy-Authorization` for a proxy URL with credentials (decoded: `URL` percent-encodes them). */
function basicProxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '' && proxy.password === '') return undefined;
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const credentials = `${decode(proxy.username)}:${decode(proxy.password)}`;
  return `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
}

/**
 * A keep-alive agent whose connections go through `proxy` with `CONNECT`. `destroy()` also ends
 * tunnels still being opened.
 */
export function createTunnelingAgent(proxy: URL, secure: boolean, agentOptions: https.AgentOptions): http.Agent {
  const authorization = basicProxyAuthorization(proxy);
  const pending = new Set<http.ClientRequest>();
  const Base = secure ? https.Agent : http.Agent;
  const agent = new Base(agentOptions);
  // node's Agent calls createConnection(options, oncreate) and accepts the socket through the callback.
  (agent as unknown as { createConnection: (options: ConnectOptions, oncreate: OnCreate) => undefined }).createConnection = (options, oncreate) => {
    openTunnel(proxy, authorization, pending, options, secure, oncreate);
    return undefined;
  };
  const destroy = agent.destroy.bind(agent);
  agent.destroy = () => {
    for (const request of pending) request.destroy();
    pending.clear();
    destroy();
  };
  return agent;
}
