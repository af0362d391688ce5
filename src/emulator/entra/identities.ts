import { createHash } from 'node:crypto';
import type { EmulatorClient, EmulatorUser } from '../types';

/** A user with every optional field resolved. */
export interface ResolvedUser {
  username: string;
  password: string;
  objectId: string;
  displayName: string;
}

/** A client with every optional field resolved. */
export type ResolvedClient = Required<EmulatorClient>;

/** Default tenant, client and user: fixed so that `.env` files and token caches survive restarts. */
export const DEFAULT_TENANT_ID = '5f3c6a1e-8b2d-4c7e-9a10-3e4f5a6b7c8d';
export const DEFAULT_CLIENT: EmulatorClient = {
  clientId: '51f81489-12ee-4a9e-aaae-a2591f45987d',
  clientSecret: 'emulator-client-secret~not-for-production',
};
export const DEFAULT_USER: EmulatorUser = {
  username: 'dev@contoso.onmicrosoft.com',
  password: 'Emulator-Passw0rd!',
  displayName: 'Dev User',
};

/** A GUID derived from a name, so the same user or client keeps its object id across runs. */
export function deterministicGuid(namespace: string, name: string): string {
  const hex = createHash('sha256').update(`${namespace}:${name}`).digest('hex');
  // Version 5-style layout (name-based): version nibble 5, RFC 4122 variant.
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Fills a user's optional fields: object id from the username, display name from its local part. */
export function resolveUser(user: EmulatorUser): ResolvedUser {
  return {
    username: user.username,
    password: user.password,
    objectId: user.objectId ?? deterministicGuid('user', user.username.toLowerCase()),
    displayName: user.displayName ?? user.username.split('@')[0],
  };
}

/** Fills a client's optional fields: the service principal's object id from the client id. */
export function resolveClient(client: EmulatorClient): ResolvedClient {
  return {
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    objectId: client.objectId ?? deterministicGuid('service-principal', client.clientId.toLowerCase()),
  };
}
