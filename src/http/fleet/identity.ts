import { createHash } from 'node:crypto';

/**
 * Who a request is limited as. Dataverse's service-protection limits apply per user, "application
 * users are treated the same" (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits),
 * so processes share limits when they call one environment (its host) as one identity: the access
 * token's tenant (`tid`) and object id (`oid`; `appid`/`azp` or `sub` when a token has none).
 *
 * Nothing of the token is kept: the scope is a SHA-256 of host and claims, short enough for a key
 * name, and a process that renews its token keeps its scope.
 */
export interface CallerScope {
  /** 32 hex characters. */
  scope: string;
  /** False when the bearer value is not a JWT with an identity claim: the scope is then the host's alone. */
  identified: boolean;
}

/** The scope of a request to `host` carrying `authorization` (`Bearer <jwt>`). */
export function callerScope(host: string, authorization: string | undefined): CallerScope {
  const claims = authorization === undefined ? undefined : jwtClaims(authorization.replace(/^Bearer\s+/i, ''));
  const id = claims === undefined ? undefined : firstString(claims, ['oid', 'appid', 'azp', 'sub']);
  const tenant = claims === undefined ? '' : (firstString(claims, ['tid']) ?? '');
  const identified = id !== undefined;
  const scope = createHash('sha256')
    .update(`${host.toLowerCase()}\n${tenant.toLowerCase()}\n${identified ? id.toLowerCase() : '(unidentified)'}`)
    .digest('hex')
    .slice(0, 32);
  return { scope, identified };
}

/**
 * Remembers the scope of the last bearer value, so that the JWT is decoded once per token rather
 * than once per request. The token itself lives only in this closure.
 */
export function scopeCache(host: string): (authorization: string | undefined) => CallerScope {
  let lastHeader: string | undefined;
  let last: CallerScope | undefined;
  return (authorization) => {
    if (last !== undefined && authorization === lastHeader) return last;
    last = callerScope(host, authorization);
    lastHeader = authorization;
    return last;
  };
}

function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1].length > 16_384) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function firstString(claims: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const v = claims[name];
    if (typeof v === 'string' && v !== '' && v.length <= 256) return v;
  }
  return undefined;
}
