import type { ConfigurationIssue } from '../errors';

/** Default Entra ID host. */
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/**
 * Hosts for which msal-common carries hard-coded cloud and endpoint metadata
 * (`msal-common/src/authority/AuthorityMetadata.ts`); any other host needs `knownAuthorities`,
 * otherwise MSAL asks login.microsoftonline.com for instance discovery.
 */
const MICROSOFT_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
  'login.partner.microsoftonline.cn',
  'login.chinacloudapi.cn',
  'login.microsoftonline.de',
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login-us.microsoftonline.com',
]);

/** Tenants that name no single directory; client credentials cannot use them (MSAL `missing_tenant_id_error`). */
export const MULTI_TENANT_ALIASES = new Set(['common', 'organizations', 'consumers']);

export interface ResolvedAuthority {
  /** `https://host[:port]/<tenant>` */
  authority: string;
  tenant: string;
  /** `host:port` when MSAL must be told this host is trusted, otherwise empty. */
  knownAuthorities: string[];
}

/**
 * Turns `tokenUrl` (v1 `…/oauth2/token` or v2 `…/oauth2/v2.0/token`), `authority` or
 * `tenantId` + `authorityHost` into an MSAL authority. A v1 token URL maps to
 * `origin + "/" + first path segment`, the `https://<instance>/<tenant>` form of an authority
 * (https://learn.microsoft.com/entra/identity-platform/msal-client-application-configuration#authority);
 * MSAL then talks v2 to that authority.
 */
export function resolveAuthority(
  input: { tokenUrl?: string; authority?: string; tenantId?: string; authorityHost?: string },
  issues: ConfigurationIssue[],
): ResolvedAuthority | undefined {
  const given = [input.tokenUrl && 'tokenUrl', input.authority && 'authority', input.tenantId && 'tenantId'].filter(Boolean);
  if (given.length === 0) {
    issues.push({ name: 'tokenUrl | authority | tenantId', expected: 'one of them (where to get tokens)' });
    return undefined;
  }
  if (given.length > 1) {
    issues.push({ name: given.join(' + '), expected: 'only one of tokenUrl, authority, tenantId' });
    return undefined;
  }
  let url: URL;
  let name: string;
  if (input.tokenUrl) {
    name = 'tokenUrl';
    const u = parseHttps(input.tokenUrl, name, issues);
    if (!u) return undefined;
    const segments = u.pathname.split('/').filter(Boolean);
    const rest = segments.slice(1).join('/').toLowerCase();
    if (segments.length < 2 || !(rest === 'oauth2/token' || rest === 'oauth2/v2.0/token')) {
      issues.push({ name, expected: 'a token URL like https://login.microsoftonline.com/<tenant>/oauth2/token or …/oauth2/v2.0/token' });
      return undefined;
    }
    url = new URL(`${u.origin}/${segments[0]}`);
  } else if (input.authority) {
    name = 'authority';
    const u = parseHttps(input.authority, name, issues);
    if (!u) return undefined;
    const segments = u.pathname.split('/').filter(Boolean);
    if (segments.length !== 1) {
      issues.push({ name, expected: 'https://<host>/<tenant> (exactly one path segment, the tenant)' });
      return undefined;
    }
    url = new URL(`${u.origin}/${segments[0]}`);
  } else {
    name = 'authorityHost';
    const host = parseHttps(input.authorityHost ?? DEFAULT_AUTHORITY_HOST, name, issues);
    if (!host) return undefined;
    if (!/^[A-Za-z0-9.-]+$/.test(input.tenantId ?? '')) {
      issues.push({ name: 'tenantId', expected: 'a tenant GUID or domain name (e.g. contoso.onmicrosoft.com)' });
      return undefined;
    }
    url = new URL(`${host.origin}/${input.tenantId}`);
  }
  const tenant = decodeURIComponent(url.pathname.slice(1));
  const knownAuthorities = MICROSOFT_HOSTS.has(url.hostname.toLowerCase()) ? [] : [url.host];
  return { authority: `${url.origin}/${tenant}`, tenant, knownAuthorities };
}

function parseHttps(value: string, name: string, issues: ConfigurationIssue[]): URL | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    issues.push({ name, expected: 'an absolute https:// URL' });
    return undefined;
  }
  if (u.protocol !== 'https:') {
    // MSAL rejects any other scheme (`authority_uri_insecure`, msal-common UrlString.validateAsUri).
    issues.push({ name, expected: 'an https:// URL (Entra ID and MSAL require TLS)' });
    return undefined;
  }
  if (u.search || u.hash) {
    issues.push({ name, expected: 'a URL without query or fragment' });
    return undefined;
  }
  return u;
}
