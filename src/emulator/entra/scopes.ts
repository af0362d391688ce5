import { entraErrors } from './errors';

/** Scopes that ask for OpenID Connect artefacts rather than a resource (Entra strips them from `scope`). */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

/** Microsoft Graph: the resource Entra picks for bare scope names such as `User.Read`. */
export const GRAPH_RESOURCE = 'https://graph.microsoft.com';

/** A v2 `scope` parameter, resolved the way Entra resolves it. */
export interface ResolvedScopes {
  /** Token audience: everything before the last `/` of the resource scopes. */
  resource: string;
  /** Permission names after the resource (`user_impersonation` for `.default` on a user token). */
  permissions: string[];
  /** Whether the request used `<resource>/.default`. */
  isDefault: boolean;
  /** Value of the response's `scope`: the request's scopes minus the OpenID Connect ones, verbatim. */
  echo: string;
  openid: boolean;
  offlineAccess: boolean;
}

/**
 * Resolves a v2 `scope` string. Entra takes "everything before the last slash" as the resource, so
 * `https://x//.default` asks for audience `https://x/` (scenario-daemon-acquire-token; MSAL.NET #747).
 * A scope without a slash is a Microsoft Graph permission. One request names one resource (AADSTS28000).
 */
export function resolveScopes(scope: string | undefined, grant: 'app' | 'user'): ResolvedScopes {
  const all = (scope ?? '').split(' ').filter((s) => s.length > 0);
  const oidc = all.filter((s) => OIDC_SCOPES.has(s.toLowerCase()));
  const resourceScopes = all.filter((s) => !OIDC_SCOPES.has(s.toLowerCase()));
  if (grant === 'app') {
    if (all.length === 0) throw entraErrors.missingParameter('scope');
    if (resourceScopes.length !== 1 || !resourceScopes[0].endsWith('/.default')) {
      throw entraErrors.clientCredentialsScope(all.join(' '));
    }
  }
  const openid = oidc.some((s) => s.toLowerCase() === 'openid');
  const offlineAccess = oidc.some((s) => s.toLowerCase() === 'offline_access');
  if (resourceScopes.length === 0) {
    if (all.length === 0) throw entraErrors.missingParameter('scope');
    // Only OpenID Connect scopes: Entra issues a Microsoft Graph token for User.Read.
    return { resource: GRAPH_RESOURCE, permissions: ['User.Read'], isDefault: false, echo: 'User.Read', openid, offlineAccess };
  }
  const resources = new Set<string>();
  const permissions: string[] = [];
  let isDefault = false;
  for (const s of resourceScopes) {
    const slash = s.lastIndexOf('/');
    const resource = slash < 0 ? GRAPH_RESOURCE : s.slice(0, slash);
    const permission = slash < 0 ? s : s.slice(slash + 1);
    if (resource.length === 0 || permission.length === 0) throw entraErrors.invalidScope(s);
    resources.add(normalizeResource(resource));
    if (permission === '.default') isDefault = true;
    permissions.push(permission);
  }
  if (resources.size > 1) throw entraErrors.multipleResources();
  if (isDefault && resourceScopes.length > 1) throw entraErrors.invalidScope(resourceScopes.join(' '));
  const first = resourceScopes[0];
  const resource = first.includes('/') ? first.slice(0, first.lastIndexOf('/')) : GRAPH_RESOURCE;
  return {
    resource,
    permissions: isDefault ? (grant === 'user' ? ['user_impersonation'] : []) : permissions,
    isDefault,
    echo: resourceScopes.join(' '),
    openid,
    offlineAccess,
  };
}

/** Compares resources the way Entra matches a service principal: case-insensitive, trailing slash ignored. */
export function normalizeResource(resource: string): string {
  return resource.replace(/\/+$/, '').toLowerCase();
}
