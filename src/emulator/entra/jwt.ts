import { createHash, generateKeyPair, KeyObject, sign, verify } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

/** One JSON Web Key as Entra publishes it at `discovery/v2.0/keys` (RSA, signature use). */
export interface JsonWebKey {
  kty: 'RSA';
  use: 'sig';
  kid: string;
  x5t: string;
  n: string;
  e: string;
  alg: 'RS256';
}

export type JwtClaims = Record<string, unknown>;

export type JwtVerification =
  | { ok: true; header: Record<string, unknown>; claims: JwtClaims }
  | { ok: false; reason: 'malformed' | 'signature' };

export function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

/** Decodes a JWT's header and payload without checking anything; `undefined` when it is not a JWT. */
export function decodeJwt(token: string): { header: Record<string, unknown>; claims: JwtClaims; signed: string; signature: Buffer } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(claims)) return undefined;
    return { header, claims, signed: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url') };
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The RSA key the emulator signs access and id tokens with. A fresh key per start, published in the
 * JWKS; tokens from an earlier run fail the signature check, as tokens signed with a rolled-over key
 * would at Entra. RS256 because that is what Entra uses and what validators expect.
 */
export class SigningKey {
  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
    /** Key id, also used as `x5t` as Entra does (both are the certificate thumbprint there). */
    readonly kid: string,
  ) {}

  static async create(): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
    const der = publicKey.export({ type: 'spki', format: 'der' });
    const kid = base64url(createHash('sha1').update(der).digest());
    return new SigningKey(privateKey, publicKey, kid);
  }

  jwk(): JsonWebKey {
    const jwk = this.publicKey.export({ format: 'jwk' });
    return { kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: String(jwk.n), e: String(jwk.e), alg: 'RS256' };
  }

  sign(claims: JwtClaims): string {
    const header = { typ: 'JWT', alg: 'RS256', x5t: this.kid, kid: this.kid };
    const signed = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signed), this.privateKey);
    return `${signed}.${base64url(signature)}`;
  }

  /** Checks structure and signature only; expiry and audience are the caller's business. */
  verify(token: string): JwtVerification {
    const decoded = decodeJwt(token);
    if (!decoded) return { ok: false, reason: 'malformed' };
    if (decoded.header.alg !== 'RS256' || decoded.header.kid !== this.kid) return { ok: false, reason: 'signature' };
    const valid = verify('sha256', Buffer.from(decoded.signed), this.publicKey, decoded.signature);
    return valid ? { ok: true, header: decoded.header, claims: decoded.claims } : { ok: false, reason: 'signature' };
  }
}
