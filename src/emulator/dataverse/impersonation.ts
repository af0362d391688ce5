/**
 * Impersonation headers (dp/webapi/impersonate-another-user-web-api.md): `CallerObjectId: <Entra object id>`
 * (preferred) or `MSCRMCallerID: <systemuserid>` (legacy) make the operation run as that user. Records
 * created get `createdby`/`ownerid` = the impersonated user and `createdonbehalfby` = the calling user,
 * and `WhoAmI` answers for the impersonated user.
 *
 * What the emulator does not model: Dataverse requires the calling user to hold
 * `prvActOnBehalfOfAnotherUser` (Delegate role) and intersects both users' privileges. The emulator has
 * no security roles, so every authenticated caller may impersonate.
 *
 * Which users are "known" (may be impersonated): a `systemusers` row in the store (seeded, created with
 * `POST systemusers`, loaded from `dataFile`, or provisioned when a token user first wrote something), or
 * any user or app that has presented a token to this emulator's Web API since it started. Dataverse
 * likewise only knows users provisioned into the environment, not every account in the tenant.
 */
import { BRACED_GUID_PATTERN, GUID_PATTERN } from '../../net/guid';
import { stableGuid } from '../ids';
import { dvErrors } from './errors';
import type { ServiceSchema } from './schema';
import { normaliseId, type DataStore, type Row } from './store';

/** A Dataverse user as far as the emulator needs one. */
export interface UserIdentity {
  systemUserId: string;
  /** Entra object id (`azureactivedirectoryobjectid`), when known. */
  oid?: string;
  upn?: string;
  kind: 'app' | 'user';
}

/** Who a request runs as: `user` (WhoAmI, owner, createdby) and, when impersonating, the token's user. */
export interface EffectiveUser {
  user: UserIdentity;
  /** The calling (token) user when `user` is someone else: written to `createdonbehalfby`/`modifiedonbehalfby`. */
  onBehalfOf?: UserIdentity;
}

/**
 * The systemuserid the emulator gives the user or app with this Entra object id: deterministic, so the
 * same token user, or a `CallerObjectId` naming them, always maps to the same row across runs.
 */
export function systemUserIdFor(objectId: string): string {
  return stableGuid(`dynamics-odata-emulator#systemuser#${objectId.toLowerCase()}`);
}

/** A GUID header value, bare or between braces (as the Dataverse UI copies ids), in lower case. */
function parseGuidHeader(name: string, value: string): string {
  const text = value.trim();
  const guid = GUID_PATTERN.test(text) ? text : BRACED_GUID_PATTERN.exec(text)?.[1];
  // Dataverse's answer to a malformed header value is not documented; InvalidArgument (0x80040203) is the
  // code Dataverse uses for bad argument values, with a message naming the header.
  if (guid === undefined) throw dvErrors.invalidArgument(`The value of the ${name} header must be a GUID, got '${value}'.`);
  return guid.toLowerCase();
}

/** Resolves impersonation headers against the store and the token users seen so far. */
export class Impersonation {
  /** Token users and apps that have called the Web API, by systemuserid. */
  private readonly tokenUsers = new Map<string, UserIdentity>();

  constructor(
    private readonly schema: ServiceSchema,
    private readonly store: DataStore,
  ) {}

  /** Records a token user (every authenticated request), so that others may impersonate them. */
  remember(caller: UserIdentity): void {
    if (!this.tokenUsers.has(caller.systemUserId)) this.tokenUsers.set(caller.systemUserId, caller);
  }

  /**
   * Who the request runs as. Without a header, or when the header names the caller itself, that is the
   * caller, with no `onBehalfOf`: Dataverse does not impersonate a user as themselves and leaves
   * `createdonbehalfby` null (MicrosoftDocs/powerapps-docs#2088, by the doc's author).
   * When both headers are sent, `CallerObjectId` (the preferred one) wins; the docs do not say.
   */
  resolve(headers: Record<string, string>, caller: UserIdentity): EffectiveUser | undefined {
    const objectIdHeader = headers['callerobjectid'];
    const systemUserIdHeader = headers['mscrmcallerid'];
    let user: UserIdentity;
    if (objectIdHeader !== undefined) {
      user = this.byObjectId(parseGuidHeader('CallerObjectId', objectIdHeader));
    } else if (systemUserIdHeader !== undefined) {
      user = this.bySystemUserId(parseGuidHeader('MSCRMCallerID', systemUserIdHeader));
    } else {
      return undefined;
    }
    if (user.systemUserId === caller.systemUserId) return { user: caller };
    return { user, onBehalfOf: caller };
  }

  private users(): { name: string; key: string; hasObjectId: boolean } | undefined {
    const users = this.schema.sets.get('systemusers');
    return users ? { name: users.name, key: users.key, hasObjectId: users.columns.has('azureactivedirectoryobjectid') } : undefined;
  }

  private fromRow(row: Row, key: string): UserIdentity {
    const oid = row['azureactivedirectoryobjectid'];
    const upn = row['domainname'];
    return {
      systemUserId: normaliseId(row[key]),
      ...(typeof oid === 'string' && oid !== '' ? { oid: oid.toLowerCase() } : {}),
      ...(typeof upn === 'string' && upn !== '' ? { upn } : {}),
      kind: 'user',
    };
  }

  private byObjectId(oid: string): UserIdentity {
    const users = this.users();
    // A systemuser row carrying the object id wins: it may have been created with its own systemuserid.
    if (users?.hasObjectId) {
      for (const row of this.store.allRows(users.name)) {
        const v = row['azureactivedirectoryobjectid'];
        if (typeof v === 'string' && v.toLowerCase() === oid) return this.fromRow(row, users.key);
      }
    }
    const derived = systemUserIdFor(oid);
    const seen = this.tokenUsers.get(derived);
    if (seen) return seen;
    const row = users ? this.store.get(users.name, derived) : undefined;
    if (row && users) return this.fromRow(row, users.key);
    throw dvErrors.impersonatedUserNotFound('azureactivedirectoryobjectid', oid);
  }

  private bySystemUserId(id: string): UserIdentity {
    const users = this.users();
    const row = users ? this.store.get(users.name, id) : undefined;
    if (row && users) return this.fromRow(row, users.key);
    const seen = this.tokenUsers.get(id);
    if (seen) return seen;
    throw dvErrors.impersonatedUserNotFound('systemuserid', id);
  }
}
