import { generate } from 'selfsigned';

/** A CA certificate and the server certificate it signed, in PEM. */
export interface EmulatorCertificates {
  /** CA certificate: what clients trust (`ca` option, `NODE_EXTRA_CA_CERTS`). */
  caPem: string;
  /** Server certificate for 127.0.0.1 / localhost, signed by the CA. */
  certPem: string;
  /** Private key of the server certificate. */
  keyPem: string;
}

const DAY_IN_MS = 24 * 60 * 60 * 1000;

/**
 * Generates a throw-away CA and a server certificate signed by it, at every start. EC P-256 keeps
 * start fast (an RSA 2048 key pair costs tens to hundreds of milliseconds per key on a busy core).
 * The server certificate carries SAN `IP:127.0.0.1` and `DNS:localhost` because Node's TLS checks the
 * host against the SAN, never the common name. `notBefore` is a day back so a client whose clock
 * lags slightly still accepts it.
 */
export async function createCertificates(): Promise<EmulatorCertificates> {
  const notBeforeDate = new Date(Date.now() - DAY_IN_MS);
  const notAfterDate = new Date(Date.now() + 365 * DAY_IN_MS);
  const ca = await generate([{ name: 'commonName', value: 'dynamics-odata emulator CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { caPem: ca.cert, certPem: leaf.cert, keyPem: leaf.private };
}
