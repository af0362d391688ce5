import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenCheck } from '../dataverse/contract';
import type { EmulatorCounters, RefreshTokenReuse } from '../types';
import { EntraError, entraErrorBody, entraErrors } from './errors';
import { GUID_PATTERN } from '../../net/guid';
import { deterministicGuid, type ResolvedClient, type ResolvedUser } from './identities';
import { base64url, decodeJwt, SigningKey, type JwtClaims } from './jwt';
import { normalizeResource, resolveScopes, type ResolvedScopes } from './scopes';

/** Everything Entra ID needs to know about the running emulator. */
export interface EntraConfig {
  /** `https://127.0.0.1:PORT`. */
  origin: string;
  /** The environment URL: the audience the Web API accepts. */
  environmentUrl: string;
  tenantId: string;
  /** Other tenants (GUIDs, lower case) this Entra ID issues tokens for; the Web API accepts only `tenantId`'s. */
  additionalTenantIds?: string[];
  clients: ResolvedClient[];
  users: ResolvedUser[];
  tokenLifetimeSeconds: number;
  refreshInSeconds?: number;
  /** `'reject'` (default): a redeemed refresh token is spent (AADSTS70000 when presented again); `'allow'`: it stays valid, as at Entra. */
  refreshTokenReuse?: RefreshTokenReuse;
  /** Seconds a device code stays valid. Default 900, as Entra. */
  deviceCodeLifetimeSeconds?: number;
  /** Polling interval the device-code response asks for. Default 1 (Entra says 5; tests should not wait). */
  deviceCodeIntervalSeconds?: number;
}

type Flavor = 'v1' | 'v2';

/** What one token request resolved to, before the response is written. */
interface Issue {
  flavor: Flavor;
  tid: string;
  client: ResolvedClient;
  /** `1` secret, `2` certificate (client assertion), `0` public client: the `appidacr` claim. */
  appidacr: '0' | '1' | '2';
  user?: ResolvedUser;
  scopes: ResolvedScopes;
  /** Include an id_token (v2: `openid` asked; v1: `scope=openid`). */
  idToken: boolean;
  /** Include a refresh token. */
  refreshToken: boolean;
  clientInfo: boolean;
  nonce?: string;
  /** Raw v2 scope string the refresh token remembers, so a refresh without `scope` repeats it. */
  grantedScope: string;
  amr: string[];
}

interface RefreshGrant {
  clientId: string;
  userObjectId: string;
  tid: string;
  grantedScope: string;
  flavor: Flavor;
  status: 'active' | 'used' | 'revoked';
  expiresAt: number;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  scope: string;
  userObjectId: string;
  tid: string;
  challenge?: string;
  challengeMethod?: 'S256' | 'plain';
  nonce?: string;
  expiresAt: number;
  redeemed: boolean;
}

interface DeviceCode {
  clientId: string;
  scope: string;
  flavor: Flavor;
  tid: string;
  expiresAt: number;
  polls: number;
  redeemed: boolean;
}

const PUBLIC_TENANTS: Record<string, string | undefined> = {
  common: undefined,
  organizations: undefined,
  // Entra's fixed tenant of Microsoft accounts.
  consumers: '9188040d-6c67-4c5b-b112-36a304b66dad',
};

/** Refresh tokens live 90 days at Entra (configurable-token-lifetimes.md); codes 10 minutes. */
const REFRESH_TOKEN_LIFETIME_SECONDS = 90 * 24 * 3600;
const AUTHORIZATION_CODE_LIFETIME_SECONDS = 600;
/** Entra back-dates `iat`/`nbf` by five minutes to absorb clock skew. */
const BACKDATE_SECONDS = 300;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Bearer tokens whose signature was checked, and their claims. A client sends the same token with
 * every request until it renews it, and an RSA check costs more than the rest of a small GET (about
 * 45 µs of the emulator's ~200 µs per request, profiled): the signature is checked once per token,
 * the claims (expiry, audience, tenant) on every request. The key never changes during the
 * emulator's life, so a token's signature verifies the same way every time. Bounded: the oldest half
 * is dropped when full.
 */
const VERIFIED_TOKENS_LIMIT = 1024;

/**
 * The emulator's Entra ID: discovery, JWKS, the v1 and v2 token endpoints, authorize and device code.
 * State (codes, refresh tokens) lives on the instance; a restart forgets it, like a key rollover.
 */
export class EntraService {
  /** Keyed by bearer token. Every field holding a credential is a `#` field, so that inspecting or serialising the service never shows one. */
  readonly #verifiedTokens = new Map<string, JwtClaims>();
  readonly #refreshTokens = new Map<string, RefreshGrant>();
  readonly #codes = new Map<string, AuthorizationCode>();
  readonly #deviceCodes = new Map<string, DeviceCode>();

  // `#` fields: the configuration holds client secrets and passwords, the key signs tokens.
  readonly #config: EntraConfig;
  readonly #key: SigningKey;
  readonly #counters: EmulatorCounters;

  constructor(config: EntraConfig, key: SigningKey, counters: EmulatorCounters) {
    this.#config = config;
    this.#key = key;
    this.#counters = counters;
  }

  /** `https://127.0.0.1:PORT/<tenant>/oauth2/authorize`: what Dataverse names in `WWW-Authenticate`. */
  authorizationUri(): string {
    return `${this.#config.origin}/${this.#config.tenantId}/oauth2/authorize`;
  }

  /** Whether a path is a token endpoint (`/{tenant}/oauth2/token` or `/{tenant}/oauth2/v2.0/token`). */
  static isTokenPath(pathname: string): boolean {
    return /^\/[^/]+\/oauth2\/(v2\.0\/)?token\/?$/i.test(pathname);
  }

  /** Grant type of a token request body, normalized (`urn:…:device_code` → `device_code`). */
  static grantOf(body: Buffer): string {
    const grant = new URLSearchParams(body.toString('utf8')).get('grant_type') ?? '(none)';
    return grant === 'urn:ietf:params:oauth:grant-type:device_code' ? 'device_code' : grant;
  }

  revokeRefreshTokens(): void {
    for (const grant of this.#refreshTokens.values()) {
      if (grant.status === 'active') grant.status = 'revoked';
    }
  }

  /**
   * Verifies a `Bearer` header as Dataverse does: a token this Entra signed (current key), not expired,
   * whose audience is the environment URL (trailing slash and case ignored) and whose tenant is the
   * emulator's. No clock-skew allowance, so a test can reach expiry with a short token lifetime.
   */
  checkAuthorization(header: string | undefined): TokenCheck {
    if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return { ok: false, reason: 'malformed' };
    const c = this.verifiedClaims(match[1]);
    if (typeof c === 'string') return { ok: false, reason: c };
    if (typeof c.exp !== 'number' || typeof c.aud !== 'string' || typeof c.oid !== 'string' || typeof c.tid !== 'string') {
      return { ok: false, reason: 'malformed' };
    }
    const now = nowSeconds();
    if (c.exp <= now || (typeof c.nbf === 'number' && c.nbf > now)) return { ok: false, reason: 'expired' };
    if (normalizeResource(c.aud) !== normalizeResource(this.#config.environmentUrl)) return { ok: false, reason: 'audience' };
    // An environment belongs to one tenant: Dataverse refuses a token issued in another tenant.
    if (c.tid.toLowerCase() !== this.#config.tenantId.toLowerCase()) return { ok: false, reason: 'audience' };
    const kind = c.idtyp === 'app' ? 'app' : 'user';
    return {
      ok: true,
      token: {
        oid: c.oid,
        tid: c.tid,
        appid: typeof c.appid === 'string' ? c.appid : '',
        aud: c.aud,
        exp: c.exp,
        kind,
        ...(typeof c.upn === 'string' ? { upn: c.upn } : {}),
      },
    };
  }

  /** The claims of a token this Entra signed (see VERIFIED_TOKENS_LIMIT), or why it is refused. */
  private verifiedClaims(token: string): JwtClaims | 'malformed' | 'signature' {
    const known = this.#verifiedTokens.get(token);
    if (known !== undefined) return known;
    const verified = this.#key.verify(token);
    if (!verified.ok) return verified.reason;
    if (this.#verifiedTokens.size >= VERIFIED_TOKENS_LIMIT) {
      let drop = VERIFIED_TOKENS_LIMIT >> 1;
      for (const oldest of this.#verifiedTokens.keys()) {
        if (drop-- === 0) break;
        this.#verifiedTokens.delete(oldest);
      }
    }
    this.#verifiedTokens.set(token, verified.claims);
    return verified.claims;
  }

  /** Answers the request if it is an Entra route; returns false otherwise (the server answers 404). */
  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): Promise<boolean> {
    const correlationId = headerValue(req, 'client-request-id') ?? randomUUID();
    const traceId = randomUUID();
    const method = req.method ?? 'GET';
    const segments = url.pathname.split('/').filter((s) => s.length > 0);
    const route = matchRoute(segments);
    if (!route) return false;
    const respond = (status: number, payload: unknown, extra: Record<string, string> = {}): void => {
      const text = JSON.stringify(payload);
      res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store, no-cache',
        Pragma: 'no-cache',
        'x-ms-request-id': traceId,
        'client-request-id': correlationId,
        'x-ms-ests-server': 'dynamics-odata-emulator',
        'Content-Length': Buffer.byteLength(text),
        ...extra,
      });
      res.end(text);
    };
    const fail = (err: EntraError): void => {
      respond(err.status, entraErrorBody(err, { origin: this.#config.origin, correlationId, traceId, now: new Date() }));
    };
    try {
      switch (route.name) {
        case 'devicelogin':
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
          res.end('<!DOCTYPE html><html><body><p>Device codes are approved automatically by the emulator.</p></body></html>');
          return true;
      }
      const tenantSegment = route.tenant.toLowerCase();
      const tid = this.resolveTenant(tenantSegment, route.name === 'openid-configuration' || route.name === 'keys' ? 'invalid_tenant' : 'invalid_request');
      switch (route.name) {
        case 'openid-configuration':
          if (method !== 'GET') return false;
          this.#counters.discoveryRequests += 1;
          respond(200, this.openidConfiguration(tenantSegment, tid, route.flavor));
          return true;
        case 'keys':
          respond(200, { keys: [this.#key.jwk()] });
          return true;
        case 'token': {
          if (method !== 'POST') throw entraErrors.onlyPost(method);
          const params = new URLSearchParams(body.toString('utf8'));
          const grant = EntraService.grantOf(body);
          this.#counters.tokenRequests[grant] = (this.#counters.tokenRequests[grant] ?? 0) + 1;
          this.#counters.tokenRequestsTotal += 1;
          checkForm(params, route.flavor);
          const issue = this.tokenRequest(route.flavor, tid, params, req);
          respond(200, this.tokenResponse(issue));
          return true;
        }
        case 'devicecode': {
          if (method !== 'POST') throw entraErrors.onlyPost(method);
          const params = new URLSearchParams(body.toString('utf8'));
          checkForm(params, route.flavor);
          respond(200, this.deviceCodeRequest(route.flavor, tid, params));
          return true;
        }
        case 'authorize':
          this.authorize(tid, url.searchParams, res, traceId, correlationId);
          return true;
        case 'logout': {
          // Sign-out has no server state to clear here (sessions are not emulated): go back to the app.
          const back = url.searchParams.get('post_logout_redirect_uri');
          if (back) {
            res.writeHead(302, { Location: back });
            res.end();
          } else {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
            res.end('<!DOCTYPE html><html><body><p>You signed out of your account.</p></body></html>');
          }
          return true;
        }
      }
    } catch (err) {
      if (err instanceof EntraError) {
        fail(err);
        return true;
      }
      fail(new EntraError(500, 'server_error', 50000, `There was an error issuing a token: ${err instanceof Error ? err.message : String(err)}`));
      return true;
    }
    return false;
  }

  // ---- tenants and discovery ----

  /**
   * The tenant a path names, as Entra resolves it: the emulator's tenant (and `additionalTenantIds`) by
   * GUID, its domains (those of its users' names, e.g. `contoso.onmicrosoft.com`), and `common`,
   * `organizations` and `consumers`. Any other tenant is AADSTS90002, `invalid_tenant` from discovery
   * and `invalid_request` from the protocol endpoints, as Entra answers.
   */
  private resolveTenant(segment: string, error: 'invalid_tenant' | 'invalid_request'): string {
    if (GUID_PATTERN.test(segment)) {
      if (segment === this.#config.tenantId.toLowerCase() || (this.#config.additionalTenantIds ?? []).includes(segment)) return segment;
      if (/^[0-]+$/.test(segment)) {
        throw new EntraError(400, error, 90002, `Requested tenant identifier '${segment}' is not valid. Tenant identifiers may not be an empty GUID.`);
      }
    } else {
      if (segment in PUBLIC_TENANTS) return PUBLIC_TENANTS[segment] ?? this.#config.tenantId;
      if (this.#config.users.some((u) => u.username.toLowerCase().endsWith(`@${segment}`))) return this.#config.tenantId;
    }
    throw new EntraError(
      400,
      error,
      90002,
      `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    );
  }

  private openidConfiguration(segment: string, tid: string, flavor: Flavor): Record<string, unknown> {
    const o = this.#config.origin;
    const issuerTenant = segment in PUBLIC_TENANTS && segment !== 'consumers' ? '{tenantid}' : tid;
    const v = flavor === 'v2' ? 'v2.0/' : '';
    return {
      token_endpoint: `${o}/${segment}/oauth2/${v}token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${o}/${segment}/discovery/${v}keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: flavor === 'v2' ? `${o}/${issuerTenant}/v2.0` : `${o}/${issuerTenant}/`,
      request_uri_parameter_supported: false,
      // Entra points userinfo at Microsoft Graph, which the emulator does not serve.
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
      authorization_endpoint: `${o}/${segment}/oauth2/${v}authorize`,
      device_authorization_endpoint: `${o}/${segment}/oauth2/${v}devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${o}/${segment}/oauth2/${v}logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      kerberos_endpoint: `${o}/${segment}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  }

  // ---- token endpoint ----

  private tokenRequest(flavor: Flavor, tid: string, params: URLSearchParams, req: IncomingMessage): Issue {
    const grantType = params.get('grant_type');
    if (!grantType) throw entraErrors.missingParameter('grant_type');
    switch (grantType) {
      case 'client_credentials':
        return this.clientCredentials(flavor, tid, params, req);
      case 'password':
        return this.password(flavor, tid, params, req);
      case 'refresh_token':
        return this.refresh(flavor, tid, params, req);
      case 'authorization_code':
        return this.authorizationCode(flavor, tid, params, req);
      case 'device_code':
      case 'urn:ietf:params:oauth:grant-type:device_code':
        return this.deviceCodeGrant(params, req);
      default:
        throw entraErrors.unsupportedGrant(grantType);
    }
  }

  /**
   * The client: `client_id` (body or HTTP Basic), authenticated by `client_secret` or a
   * `client_assertion` JWT. A confidential client must authenticate for client credentials; user
   * grants without a credential are accepted as public-client flows ("Allow public client flows").
   * Assertions are checked for `iss`/`sub` = client id and expiry, not for their signature: the
   * emulator has no registered certificate to check it against.
   */
  private authenticateClient(params: URLSearchParams, req: IncomingMessage, tid: string, credentialRequired: boolean): { client: ResolvedClient; appidacr: '0' | '1' | '2' } {
    let clientId = params.get('client_id') ?? undefined;
    let secret = params.get('client_secret') ?? undefined;
    const authorization = headerValue(req, 'authorization');
    if (authorization && /^Basic\s+/i.test(authorization)) {
      const decoded = Buffer.from(authorization.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        clientId ??= decodeURIComponent(decoded.slice(0, colon));
        secret ??= decodeURIComponent(decoded.slice(colon + 1));
      }
    }
    if (!clientId) throw entraErrors.missingParameter('client_id');
    const client = this.#config.clients.find((c) => c.clientId.toLowerCase() === clientId.toLowerCase());
    if (!client) throw GUID_PATTERN.test(clientId) ? entraErrors.unknownClient(clientId, tid) : entraErrors.invalidClientId(clientId);
    const assertion = params.get('client_assertion');
    if (assertion !== null) {
      if (params.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') throw entraErrors.badAssertionType();
      const decoded = decodeJwt(assertion);
      if (!decoded) throw entraErrors.badClientAssertion('The assertion is not a JWT.');
      const { iss, sub, exp } = decoded.claims;
      if (iss !== client.clientId || sub !== client.clientId) throw entraErrors.badClientAssertion("The 'iss' and 'sub' claims must be the client id.");
      if (typeof exp !== 'number' || exp <= nowSeconds()) throw entraErrors.badClientAssertion('The assertion has expired.');
      return { client, appidacr: '2' };
    }
    if (secret !== undefined) {
      if (!constantTimeEqual(secret, client.clientSecret)) throw entraErrors.badSecret(client.clientId);
      return { client, appidacr: '1' };
    }
    if (credentialRequired) throw entraErrors.missingClientCredential();
    return { client, appidacr: '0' };
  }

  /** v2 takes `scope`; v1 takes `resource` (plus `scope=openid` for an id_token). */
  private scopesFor(flavor: Flavor, params: URLSearchParams, kind: 'app' | 'user', fallback?: string): { scopes: ResolvedScopes; granted: string } {
    if (flavor === 'v1') {
      const resource = params.get('resource') ?? (fallback ? resolveScopes(fallback, kind).resource : undefined);
      if (!resource) throw entraErrors.missingParameter('resource');
      const extra = (params.get('scope') ?? '').split(' ').filter((s) => s === 'openid' || s === 'offline_access' || s === 'profile');
      const granted = [`${resource.replace(/\/?$/, '/')}.default`, ...extra].join(' ');
      const scopes = resolveScopes(granted, kind);
      this.checkResource(resource);
      return { scopes: { ...scopes, resource, echo: scopes.permissions.join(' ') }, granted };
    }
    const scope = params.get('scope') ?? fallback;
    const scopes = resolveScopes(scope ?? undefined, kind);
    this.checkResource(scopes.resource);
    return { scopes, granted: scope ?? '' };
  }

  /** Entra knows service principals by identifier URI; the emulator knows any https or api: identifier. */
  private checkResource(resource: string): void {
    if (!/^(https:\/\/[^/]+|api:\/\/[^/]+)/i.test(resource)) throw entraErrors.invalidResource(resource, this.#config.tenantId);
  }

  private clientCredentials(flavor: Flavor, tid: string, params: URLSearchParams, req: IncomingMessage): Issue {
    const { client, appidacr } = this.authenticateClient(params, req, tid, true);
    const { scopes, granted } = this.scopesFor(flavor, params, 'app');
    return { flavor, tid, client, appidacr, scopes, idToken: false, refreshToken: false, clientInfo: false, grantedScope: granted, amr: [] };
  }

  private password(flavor: Flavor, tid: string, params: URLSearchParams, req: IncomingMessage): Issue {
    const { client, appidacr } = this.authenticateClient(params, req, tid, false);
    const username = params.get('username');
    if (!username) throw entraErrors.missingParameter('username');
    const password = params.get('password');
    if (password === null) throw entraErrors.missingParameter('password');
    const { scopes, granted } = this.scopesFor(flavor, params, 'user');
    const user = this.#config.users.find((u) => u.username.toLowerCase() === username.toLowerCase());
    if (!user) throw entraErrors.unknownUser(tid);
    if (!constantTimeEqual(password, user.password)) throw entraErrors.wrongPassword();
    return this.userIssue(flavor, tid, client, appidacr, user, scopes, granted, params, ['pwd']);
  }

  private refresh(flavor: Flavor, tid: string, params: URLSearchParams, req: IncomingMessage): Issue {
    const { client, appidacr } = this.authenticateClient(params, req, tid, false);
    const token = params.get('refresh_token');
    if (!token) throw entraErrors.missingParameter('refresh_token');
    const grant = this.#refreshTokens.get(token);
    if (!grant) throw entraErrors.unknownRefreshToken();
    if (grant.status === 'revoked') throw entraErrors.refreshTokenRevoked();
    if (grant.status === 'used') throw entraErrors.refreshTokenUsed();
    if (grant.expiresAt <= nowSeconds()) throw entraErrors.grantExpired();
    if (grant.clientId !== client.clientId) throw entraErrors.grantClientMismatch();
    const user = this.#config.users.find((u) => u.objectId === grant.userObjectId);
    if (!user) throw entraErrors.refreshTokenRevoked();
    // Entra refresh tokens are multi-resource: the request's scope picks the resource, or the original one.
    const { scopes, granted } = this.scopesFor(flavor, params, 'user', grant.grantedScope);
    // Entra does not revoke a refresh token when it is redeemed (refresh-tokens.md); 'reject' is the stricter default.
    if (this.#config.refreshTokenReuse !== 'allow') grant.status = 'used';
    const issue = this.userIssue(flavor, grant.tid, client, appidacr, user, scopes, granted, params, ['pwd']);
    // A refresh always returns a new refresh token, and repeats id_token when the grant had `openid`.
    const originalOpenid = resolveScopes(grant.grantedScope, 'user').openid;
    return { ...issue, refreshToken: true, idToken: issue.idToken || (params.get('scope') === null && originalOpenid) };
  }

  private authorizationCode(flavor: Flavor, tid: string, params: URLSearchParams, req: IncomingMessage): Issue {
    const { client, appidacr } = this.authenticateClient(params, req, tid, false);
    const code = params.get('code');
    if (!code) throw entraErrors.missingParameter('code');
    const redirectUri = params.get('redirect_uri');
    if (!redirectUri) throw entraErrors.missingParameter('redirect_uri');
    const entry = this.#codes.get(code);
    if (!entry) throw entraErrors.malformedGrant('authorization code');
    if (entry.redeemed) throw entraErrors.codeRedeemed();
    if (entry.expiresAt <= nowSeconds()) throw entraErrors.grantExpired();
    if (entry.clientId !== client.clientId) throw entraErrors.grantClientMismatch();
    if (entry.redirectUri !== redirectUri) throw entraErrors.redirectMismatch();
    if (entry.challenge !== undefined) {
      const verifier = params.get('code_verifier');
      if (!verifier) throw entraErrors.pkceMismatch();
      const computed = entry.challengeMethod === 'plain' ? verifier : base64url(createHash('sha256').update(verifier).digest());
      if (!constantTimeEqual(computed, entry.challenge)) throw entraErrors.pkceMismatch();
    }
    entry.redeemed = true;
    const user = this.#config.users.find((u) => u.objectId === entry.userObjectId);
    if (!user) throw entraErrors.malformedGrant('authorization code');
    const requested = params.get('scope') ?? entry.scope;
    const { scopes, granted } = this.scopesFor(flavor, new URLSearchParams({ ...Object.fromEntries(params), scope: requested }), 'user');
    return { ...this.userIssue(flavor, entry.tid, client, appidacr, user, scopes, granted, params, ['pwd', 'mfa']), nonce: entry.nonce };
  }

  private deviceCodeGrant(params: URLSearchParams, req: IncomingMessage): Issue {
    const code = params.get('device_code') ?? params.get('code');
    if (!code) throw entraErrors.missingParameter('device_code');
    const entry = this.#deviceCodes.get(code);
    if (!entry) throw entraErrors.malformedGrant('device_code');
    const { client, appidacr } = this.authenticateClient(params, req, entry.tid, false);
    if (entry.clientId !== client.clientId) throw entraErrors.grantClientMismatch();
    if (entry.expiresAt <= nowSeconds()) throw entraErrors.deviceCodeExpired();
    if (entry.redeemed) throw entraErrors.codeRedeemed();
    entry.polls += 1;
    // The first poll is pending so a client's polling loop runs; then the default user has "signed in".
    if (entry.polls === 1) throw entraErrors.authorizationPending();
    entry.redeemed = true;
    const user = this.#config.users[0];
    // The flow keeps the endpoint version it started with: a v1 device code carries a resource.
    const requested = new URLSearchParams(entry.flavor === 'v1' ? { resource: entry.scope } : { scope: entry.scope });
    const { scopes, granted } = this.scopesFor(entry.flavor, requested, 'user');
    return this.userIssue(entry.flavor, entry.tid, client, appidacr, user, scopes, granted, params, ['pwd', 'mfa']);
  }

  private userIssue(
    flavor: Flavor,
    tid: string,
    client: ResolvedClient,
    appidacr: '0' | '1' | '2',
    user: ResolvedUser,
    scopes: ResolvedScopes,
    granted: string,
    params: URLSearchParams,
    amr: string[],
  ): Issue {
    return {
      flavor,
      tid,
      client,
      appidacr,
      user,
      scopes,
      // v2 issues an id_token only for `openid` and a refresh token only for `offline_access`; v1 always returns a refresh token.
      idToken: scopes.openid,
      refreshToken: flavor === 'v1' || scopes.offlineAccess,
      clientInfo: params.get('client_info') === '1',
      grantedScope: granted,
      amr,
    };
  }

  private tokenResponse(issue: Issue): Record<string, unknown> {
    const now = nowSeconds();
    const lifetime = this.#config.tokenLifetimeSeconds;
    const exp = now + lifetime;
    const accessToken = this.#key.sign(this.accessTokenClaims(issue, now, exp));
    const body: Record<string, unknown> = { token_type: 'Bearer' };
    if (issue.flavor === 'v2') {
      body.scope = issue.scopes.echo;
      body.expires_in = lifetime;
      body.ext_expires_in = lifetime;
      if (this.#config.refreshInSeconds !== undefined) body.refresh_in = this.#config.refreshInSeconds;
    } else {
      // The v1 endpoint sends numbers as strings and names the resource (ADAL-era format).
      if (issue.user) body.scope = issue.scopes.permissions.join(' ');
      body.expires_in = String(lifetime);
      body.ext_expires_in = String(lifetime);
      if (this.#config.refreshInSeconds !== undefined) body.refresh_in = String(this.#config.refreshInSeconds);
      body.expires_on = String(exp);
      body.not_before = String(now - BACKDATE_SECONDS);
      body.resource = issue.scopes.resource;
    }
    body.access_token = accessToken;
    if (issue.user && issue.refreshToken) body.refresh_token = this.newRefreshToken(issue);
    if (issue.user && issue.idToken) body.id_token = this.#key.sign(this.idTokenClaims(issue, now));
    if (issue.user && issue.clientInfo) {
      body.client_info = base64url(JSON.stringify({ uid: issue.user.objectId, utid: issue.tid }));
    }
    return body;
  }

  /**
   * Access-token claims in the v1 format Dataverse receives (its app registration does not ask for v2
   * tokens): `iss` is the tenant's STS URL (here on the emulator's origin), `appid`/`appidacr`, `scp` for
   * delegated tokens; `idtyp` tells app from user. `azp` is added for validators that expect v2 claims.
   */
  private accessTokenClaims(issue: Issue, now: number, exp: number): JwtClaims {
    const { tid, client, user, scopes } = issue;
    const claims: JwtClaims = {
      aud: scopes.resource,
      iss: `${this.#config.origin}/${tid}/`,
      iat: now - BACKDATE_SECONDS,
      nbf: now - BACKDATE_SECONDS,
      exp,
      aio: base64url(randomBytes(24)),
      appid: client.clientId,
      appidacr: issue.appidacr,
      azp: client.clientId,
      idp: `${this.#config.origin}/${tid}/`,
      idtyp: user ? 'user' : 'app',
      ipaddr: '127.0.0.1',
      rh: `0.${base64url(randomBytes(16))}.`,
      tid,
      uti: base64url(randomBytes(16)),
      ver: '1.0',
    };
    if (user) {
      const [given, ...family] = user.displayName.split(' ');
      Object.assign(claims, {
        acr: '1',
        amr: issue.amr,
        family_name: family.join(' ') || given,
        given_name: given,
        name: user.displayName,
        oid: user.objectId,
        puid: puid(user.objectId),
        scp: scopes.permissions.join(' '),
        sub: pairwise(user.objectId, client.clientId),
        unique_name: user.username,
        upn: user.username,
      });
      delete claims.idp;
    } else {
      Object.assign(claims, { oid: client.objectId, sub: client.objectId });
    }
    return claims;
  }

  private idTokenClaims(issue: Issue, now: number): JwtClaims {
    const user = issue.user as ResolvedUser;
    const claims: JwtClaims = {
      aud: issue.client.clientId,
      iss: `${this.#config.origin}/${issue.tid}/v2.0`,
      iat: now - BACKDATE_SECONDS,
      nbf: now - BACKDATE_SECONDS,
      exp: now + 3600,
      name: user.displayName,
      oid: user.objectId,
      preferred_username: user.username,
      rh: `0.${base64url(randomBytes(16))}.`,
      sub: pairwise(user.objectId, issue.client.clientId),
      tid: issue.tid,
      uti: base64url(randomBytes(16)),
      ver: '2.0',
    };
    if (issue.flavor === 'v1') claims.upn = user.username;
    if (issue.nonce !== undefined) claims.nonce = issue.nonce;
    return claims;
  }

  private newRefreshToken(issue: Issue): string {
    const token = `1.AQ${base64url(randomBytes(96))}`;
    this.#refreshTokens.set(token, {
      clientId: issue.client.clientId,
      userObjectId: (issue.user as ResolvedUser).objectId,
      tid: issue.tid,
      grantedScope: issue.grantedScope,
      flavor: issue.flavor,
      status: 'active',
      expiresAt: nowSeconds() + REFRESH_TOKEN_LIFETIME_SECONDS,
    });
    return token;
  }

  // ---- device code ----

  private deviceCodeRequest(flavor: Flavor, tid: string, params: URLSearchParams): Record<string, unknown> {
    const clientId = params.get('client_id');
    if (!clientId) throw entraErrors.missingParameter('client_id');
    const client = this.#config.clients.find((c) => c.clientId.toLowerCase() === clientId.toLowerCase());
    if (!client) throw GUID_PATTERN.test(clientId) ? entraErrors.unknownClient(clientId, tid) : entraErrors.invalidClientId(clientId);
    let scope: string;
    if (flavor === 'v1') {
      const resource = params.get('resource');
      if (!resource) throw entraErrors.missingParameter('resource');
      scope = resource;
    } else {
      scope = params.get('scope') ?? '';
      if (!scope) throw entraErrors.missingParameter('scope');
      this.checkResource(resolveScopes(scope, 'user').resource);
    }
    const lifetime = this.#config.deviceCodeLifetimeSeconds ?? 900;
    const interval = this.#config.deviceCodeIntervalSeconds ?? 1;
    const deviceCode = `DAQAB${base64url(randomBytes(48))}`;
    const userCode = randomBytes(6).toString('hex').slice(0, 9).toUpperCase();
    this.#deviceCodes.set(deviceCode, { clientId: client.clientId, scope, flavor, tid, expiresAt: nowSeconds() + lifetime, polls: 0, redeemed: false });
    const verification = `${this.#config.origin}/devicelogin`;
    const message = `To sign in, use a web browser to open the page ${verification} and enter the code ${userCode} to authenticate.`;
    return flavor === 'v2'
      ? { user_code: userCode, device_code: deviceCode, verification_uri: verification, expires_in: lifetime, interval, message }
      : { user_code: userCode, device_code: deviceCode, verification_url: verification, expires_in: String(lifetime), interval: String(interval), message };
  }

  // ---- authorize ----

  /**
   * Auto-consent: signs in `login_hint`'s user (or the first user) and redirects with a code bound to
   * the client, redirect URI, scopes, PKCE challenge and nonce. Errors Entra cannot redirect (unknown
   * client, missing redirect_uri) are an HTML page, as Entra shows one.
   */
  private authorize(tid: string, q: URLSearchParams, res: ServerResponse, traceId: string, correlationId: string): void {
    const page = (err: EntraError): void => {
      res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><p>AADSTS${err.code}: ${escapeHtml(err.description)}</p><p>Trace ID: ${traceId}</p><p>Correlation ID: ${correlationId}</p></body></html>`);
    };
    const duplicate = duplicatedParameter(q);
    if (duplicate !== undefined) return page(entraErrors.duplicateParameter(duplicate));
    const clientId = q.get('client_id');
    if (!clientId) return page(entraErrors.missingParameter('client_id'));
    const client = this.#config.clients.find((c) => c.clientId.toLowerCase() === clientId.toLowerCase());
    if (!client) return page(GUID_PATTERN.test(clientId) ? entraErrors.unknownClient(clientId, tid) : entraErrors.invalidClientId(clientId));
    const redirectUri = q.get('redirect_uri');
    if (!redirectUri) return page(entraErrors.missingParameter('redirect_uri'));
    let target: URL;
    try {
      target = new URL(redirectUri);
    } catch {
      return page(new EntraError(400, 'invalid_request', 50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${client.clientId}'.`));
    }
    const state = q.get('state');
    const responseMode = q.get('response_mode') ?? 'query';
    const redirect = (fields: Record<string, string>): void => {
      const all = { ...fields, ...(state !== null ? { state } : {}) };
      if (responseMode === 'form_post') {
        const inputs = Object.entries(all)
          .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}"/>`)
          .join('');
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(`<html><body onload="document.forms[0].submit()"><form method="POST" action="${escapeHtml(redirectUri)}">${inputs}</form></body></html>`);
        return;
      }
      const encoded = new URLSearchParams(all).toString();
      if (responseMode === 'fragment') target.hash = encoded;
      else for (const [k, v] of Object.entries(all)) target.searchParams.set(k, v);
      res.writeHead(302, { Location: target.toString() });
      res.end();
    };
    const redirectError = (err: EntraError): void =>
      redirect({
        error: err.error,
        error_description: `AADSTS${err.code}: ${err.description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${new Date().toISOString()}`,
        error_uri: `${this.#config.origin}/error?code=${err.code}`,
      });
    const responseType = q.get('response_type');
    if (responseType !== 'code') return redirectError(entraErrors.unsupportedResponseType(responseType ?? ''));
    const scope = q.get('scope');
    if (!scope) return redirectError(entraErrors.missingParameter('scope'));
    try {
      this.checkResource(resolveScopes(scope, 'user').resource);
    } catch (err) {
      if (err instanceof EntraError) return redirectError(err);
      throw err;
    }
    const challenge = q.get('code_challenge') ?? undefined;
    const method = q.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
    if (method !== undefined && method !== 'S256' && method !== 'plain') return redirectError(entraErrors.unsupportedChallengeMethod(method));
    const hint = q.get('login_hint')?.toLowerCase();
    const user = this.#config.users.find((u) => u.username.toLowerCase() === hint) ?? this.#config.users[0];
    const code = `1.AQ${base64url(randomBytes(64))}`;
    this.#codes.set(code, {
      clientId: client.clientId,
      redirectUri,
      scope,
      userObjectId: user.objectId,
      tid,
      challenge,
      challengeMethod: challenge ? (method as 'S256' | 'plain') : undefined,
      nonce: q.get('nonce') ?? undefined,
      expiresAt: nowSeconds() + AUTHORIZATION_CODE_LIFETIME_SECONDS,
      redeemed: false,
    });
    const fields: Record<string, string> = { code };
    if (q.get('client_info') === '1') fields.client_info = base64url(JSON.stringify({ uid: user.objectId, utid: tid }));
    fields.session_state = deterministicGuid('session', `${user.objectId}:${client.clientId}`);
    redirect(fields);
  }
}

type Route =
  | { name: 'openid-configuration' | 'keys' | 'token' | 'devicecode' | 'authorize' | 'logout'; tenant: string; flavor: Flavor }
  | { name: 'devicelogin' };

function matchRoute(s: string[]): Route | undefined {
  const lower = s.map((x) => x.toLowerCase());
  const path = lower.slice(1).join('/');
  if (lower.length === 1 && lower[0] === 'devicelogin') return { name: 'devicelogin' };
  if (s.length < 2) return undefined;
  const tenant = s[0];
  switch (path) {
    case 'v2.0/.well-known/openid-configuration':
      return { name: 'openid-configuration', tenant, flavor: 'v2' };
    case '.well-known/openid-configuration':
      return { name: 'openid-configuration', tenant, flavor: 'v1' };
    case 'discovery/v2.0/keys':
      return { name: 'keys', tenant, flavor: 'v2' };
    case 'discovery/keys':
      return { name: 'keys', tenant, flavor: 'v1' };
    case 'oauth2/v2.0/token':
      return { name: 'token', tenant, flavor: 'v2' };
    case 'oauth2/token':
      return { name: 'token', tenant, flavor: 'v1' };
    case 'oauth2/v2.0/devicecode':
      return { name: 'devicecode', tenant, flavor: 'v2' };
    case 'oauth2/devicecode':
      return { name: 'devicecode', tenant, flavor: 'v1' };
    case 'oauth2/v2.0/authorize':
      return { name: 'authorize', tenant, flavor: 'v2' };
    case 'oauth2/v2.0/logout':
      return { name: 'logout', tenant, flavor: 'v2' };
    case 'oauth2/logout':
      return { name: 'logout', tenant, flavor: 'v1' };
    default:
      return undefined;
  }
}

/** The first parameter a form or query gives more than once, if any. */
function duplicatedParameter(params: URLSearchParams): string | undefined {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/**
 * What Entra refuses in any token or device-code form before reading the grant: a parameter given twice
 * (two `client_id`s: which one authenticates would be a guess), and `resource` on the v2 endpoint
 * (AADSTS901002, reference-error-codes: v2 takes scopes).
 */
function checkForm(params: URLSearchParams, flavor: Flavor): void {
  const duplicate = duplicatedParameter(params);
  if (duplicate !== undefined) throw entraErrors.duplicateParameter(duplicate);
  if (flavor === 'v2' && params.has('resource')) throw entraErrors.resourceOnV2();
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** Entra's `sub` is pairwise: stable per user and application, different across applications. */
function pairwise(objectId: string, clientId: string): string {
  return base64url(createHash('sha256').update(`${objectId}:${clientId}`).digest());
}

function puid(objectId: string): string {
  return createHash('sha256').update(objectId).digest('hex').slice(0, 16).toUpperCase();
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
