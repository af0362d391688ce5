/**
 * The one redactor of the library. Every path that copies text it did not write (a server's error
 * body, an MSAL log line, an exception message) into an error or a log passes it through here first.
 * It is a second line of defence: nothing should hand it a secret, but a server that echoes the
 * `Authorization` header, or a library that puts a token into a message, is not ours to trust.
 */

/** What replaces a secret. */
export const REDACTED = '[redacted]';

const PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // `Authorization: Bearer <token>` / `Basic <credentials>`, as a gateway page may echo them.
  [/\b(bearer|basic)(\s+|%20|\+)[A-Za-z0-9\-._~+/%]+=*/gi, `$1$2${REDACTED}`],
  // JWTs (access and id tokens): a base64url JSON header `eyJ…`, then one or two more segments.
  [/eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){1,2}/g, REDACTED],
  // Entra refresh tokens are opaque: `0.A…` or `1.A…` followed by a long base64url run (observed).
  [/\b[01]\.A[A-Za-z0-9_.-]{40,}/g, REDACTED],
  // Form and query parameters that carry credentials (`sessiontoken`: a chunked file upload's session, in its Location URL).
  [/\b(client_secret|client_assertion|password|access_token|refresh_token|id_token|code_verifier|assertion|sessiontoken)=[^&\s"']*/gi, `$1=${REDACTED}`],
  // The same as JSON members.
  [/"(client_secret|client_assertion|password|access_token|refresh_token|id_token|code_verifier)"\s*:\s*"(?:[^"\\]|\\.)*"/gi, `"$1":"${REDACTED}"`],
];

/**
 * Replaces credential-shaped text (bearer tokens, JWTs, refresh tokens, secret-bearing parameters)
 * with `[redacted]`.
 *
 * @example redact('echo: Authorization: Bearer eyJhbGciOi.x.y') // 'echo: Authorization: Bearer [redacted]'
 */
export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * A redactor that also removes the given secret values (a client secret, a password, a configured
 * refresh token, a private key) wherever they appear, and then applies {@link redact}. Values shorter
 * than 4 characters are ignored: they would blank out ordinary words.
 *
 * The secrets live only in the returned closure, never on an object a logger could serialise.
 */
export function createRedactor(secrets: ReadonlyArray<string | undefined>): (text: string) => string {
  const list = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4).sort((a, b) => b.length - a.length);
  if (list.length === 0) return redact;
  return (text: string) => {
    let out = text;
    for (const secret of list) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return redact(out);
  };
}
