/**
 * Impersonation in the emulator (dp/webapi/impersonate-another-user-web-api.md): `CallerObjectId`
 * (Entra object id) and `MSCRMCallerID` (systemuserid) make a request run as that user: WhoAmI answers
 * for them, records get createdby/owner = them and createdonbehalfby = the calling user. Raw HTTPS
 * first, then through the real DynamicsClient with `impersonate: { callerObjectId }`.
 */
import { randomUUID } from 'node:crypto';
import type { Emulator } from '../../src/emulator';
import { DynamicsClient } from '../../src/client/DynamicsClient';
import { appToken, httpsRequest, startTestEmulator, tokenRequest, type RawResponse } from '../helpers/emulator';

const ALICE = { username: 'alice@contoso.onmicrosoft.com', password: 'Alice-Passw0rd!', objectId: 'a11ce000-0000-4000-8000-00000000a11c', displayName: 'Alice' };
const BOB = { username: 'bob@contoso.onmicrosoft.com', password: 'Bob-Passw0rd!', objectId: 'b0b00000-0000-4000-8000-000000000b0b', displayName: 'Bob' };

type Json = Record<string, unknown>;

let em: Emulator;
let app: string;
let alice: string;

async function passwordToken(emulator: Emulator, user: { username: string; password: string }): Promise<string> {
  const res = await tokenRequest(emulator, {
    grant_type: 'password',
    client_id: emulator.client.clientId,
    client_secret: emulator.client.clientSecret,
    username: user.username,
    password: user.password,
    scope: `${emulator.url}/user_impersonation`,
  });
  const token = (res.json as { access_token?: string }).access_token;
  if (res.status !== 200 || !token) throw new Error(`token request failed: ${res.status} ${res.body}`);
  return token;
}

function oidOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as { oid: string };
  return payload.oid;
}

function api(emulator: Emulator, token: string, p: string, o: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return httpsRequest(emulator, {
    method: o.method ?? (o.body !== undefined ? 'POST' : 'GET'),
    path: `/api/data/v9.2/${p}`,
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: 'application/json',
      'OData-Version': '4.0',
      'OData-MaxVersion': '4.0',
      ...(o.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(o.headers ?? {}),
    },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
}

async function whoAmI(token: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await api(em, token, 'WhoAmI()', { headers });
  expect(r.status).toBe(200);
  return (r.json as Json)['UserId'] as string;
}

const idFrom = (r: RawResponse) => /\(([0-9a-f-]{36})\)$/.exec(String(r.headers['odata-entityid']))?.[1] as string;

async function createAccount(token: string, name: string, headers: Record<string, string>): Promise<string> {
  const r = await api(em, token, 'accounts', { body: { name }, headers });
  expect(r.status).toBe(204);
  return idFrom(r);
}

async function accountWithUsers(id: string): Promise<Json> {
  const r = await api(
    em,
    app,
    `accounts(${id})?$select=name,_createdby_value,_createdonbehalfby_value,_ownerid_value,_modifiedby_value,_modifiedonbehalfby_value&$expand=createdby($select=fullname,azureactivedirectoryobjectid),createdonbehalfby($select=fullname,azureactivedirectoryobjectid),owninguser($select=fullname,azureactivedirectoryobjectid)`,
  );
  expect(r.status).toBe(200);
  return r.json as Json;
}

async function accountCount(): Promise<number> {
  return em.store.count('accounts');
}

beforeAll(async () => {
  em = await startTestEmulator({ users: [ALICE, BOB] });
  app = await appToken(em);
  alice = await passwordToken(em, ALICE);
});
afterAll(async () => {
  await em.close();
});

describe('CallerObjectId (Entra object id)', () => {
  it('runs WhoAmI and a create as the impersonated user, with createdonbehalfby = the caller', async () => {
    const aliceId = await whoAmI(alice); // Alice has used the environment, so she is a known user
    const appId = await whoAmI(app);
    expect(aliceId).not.toBe(appId);

    expect(await whoAmI(app, { CallerObjectId: ALICE.objectId })).toBe(aliceId);
    // Header names are case-insensitive and the GUID may come in upper case or braces.
    expect(await whoAmI(app, { callerobjectid: `{${ALICE.objectId.toUpperCase()}}` })).toBe(aliceId);

    const id = await createAccount(app, 'Created for Alice', { CallerObjectId: ALICE.objectId });
    const row = await accountWithUsers(id);
    expect(row['_createdby_value']).toBe(aliceId);
    expect(row['_ownerid_value']).toBe(aliceId);
    expect(row['_modifiedby_value']).toBe(aliceId);
    expect(row['_createdonbehalfby_value']).toBe(appId);
    expect(row['_modifiedonbehalfby_value']).toBe(appId);
    // The documented shape: createdby/owninguser are the impersonated user, createdonbehalfby the actual one.
    expect(row['createdby']).toMatchObject({ azureactivedirectoryobjectid: ALICE.objectId, systemuserid: aliceId });
    expect(row['owninguser']).toMatchObject({ azureactivedirectoryobjectid: ALICE.objectId, systemuserid: aliceId });
    expect(row['createdonbehalfby']).toMatchObject({ azureactivedirectoryobjectid: oidOf(app), systemuserid: appId });

    // Without the header the same caller acts as itself again.
    const own = await accountWithUsers(await createAccount(app, 'Created by the app', {}));
    expect(own['_createdby_value']).toBe(appId);
    expect(own['_createdonbehalfby_value']).toBeNull();
  });

  it('does not impersonate a caller as themselves: createdonbehalfby stays null (powerapps-docs#2088)', async () => {
    const appId = await whoAmI(app);
    expect(await whoAmI(app, { CallerObjectId: oidOf(app) })).toBe(appId);
    const row = await accountWithUsers(await createAccount(app, 'Self', { CallerObjectId: oidOf(app) }));
    expect(row['_createdby_value']).toBe(appId);
    expect(row['_createdonbehalfby_value']).toBeNull();
  });

  it('maps an object id to the systemuser row that carries it (a user added with POST systemusers)', async () => {
    const carolOid = randomUUID();
    const created = await api(em, app, 'systemusers', { body: { azureactivedirectoryobjectid: carolOid, domainname: 'carol@contoso.onmicrosoft.com', firstname: 'Carol', lastname: 'Jones' } });
    expect(created.status).toBe(204);
    const carolId = idFrom(created);
    expect(await whoAmI(app, { CallerObjectId: carolOid })).toBe(carolId);
  });

  it('answers 404 for an object id no user of the environment has, and creates nothing', async () => {
    const before = await accountCount();
    const stranger = randomUUID();
    for (const r of [await api(em, app, 'WhoAmI()', { headers: { CallerObjectId: stranger } }), await api(em, app, 'accounts', { body: { name: 'nope' }, headers: { CallerObjectId: stranger } })]) {
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      const err = (r.json as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('0x80040217');
      expect(err.message).toContain(stranger);
    }
    // Bob has a configured Entra account but has never used this environment: Dataverse would not know him either.
    expect((await api(em, app, 'WhoAmI()', { headers: { CallerObjectId: BOB.objectId } })).status).toBe(404);
    expect(await accountCount()).toBe(before);
  });
});

describe('MSCRMCallerID (systemuserid, legacy)', () => {
  it('runs as a known systemuser: WhoAmI, createdby, owner and createdonbehalfby', async () => {
    const appId = await whoAmI(app);
    const created = await api(em, app, 'systemusers', { body: { domainname: 'dave@contoso.onmicrosoft.com', firstname: 'Dave', lastname: 'Smith' } });
    expect(created.status).toBe(204);
    const daveId = idFrom(created);

    expect(await whoAmI(app, { MSCRMCallerID: daveId })).toBe(daveId);
    const id = await createAccount(app, 'Created for Dave', { MSCRMCallerID: daveId });
    const row = await accountWithUsers(id);
    expect(row['_createdby_value']).toBe(daveId);
    expect(row['_ownerid_value']).toBe(daveId);
    expect(row['_createdonbehalfby_value']).toBe(appId);
    expect(row['createdby']).toMatchObject({ fullname: 'Dave Smith', systemuserid: daveId });

    // An update as someone else moves modifiedby/modifiedonbehalfby; a plain update clears modifiedonbehalfby.
    const aliceId = await whoAmI(alice);
    expect((await api(em, app, `accounts(${id})`, { method: 'PATCH', body: { name: 'Renamed for Alice' }, headers: { MSCRMCallerID: aliceId } })).status).toBe(204);
    let after = await accountWithUsers(id);
    expect(after['_modifiedby_value']).toBe(aliceId);
    expect(after['_modifiedonbehalfby_value']).toBe(appId);
    expect(after['_createdby_value']).toBe(daveId);
    expect((await api(em, app, `accounts(${id})`, { method: 'PATCH', body: { name: 'Renamed by the app' } })).status).toBe(204);
    after = await accountWithUsers(id);
    expect(after['_modifiedby_value']).toBe(appId);
    expect(after['_modifiedonbehalfby_value']).toBeNull();
  });

  it('answers 404 for a systemuserid that does not exist', async () => {
    const missing = randomUUID();
    const r = await api(em, app, 'WhoAmI()', { headers: { MSCRMCallerID: missing } });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: '0x80040217', message: `Entity 'systemuser' With Id = ${missing} Does Not Exist` } });
  });
});

describe('malformed header values', () => {
  it('answers 400 in Dataverse error shape naming the header, and creates nothing', async () => {
    const before = await accountCount();
    for (const [header, value] of [
      ['CallerObjectId', 'not-a-guid'],
      ['CallerObjectId', ''],
      ['MSCRMCallerID', '1234'],
      ['MSCRMCallerID', `${ALICE.objectId}x`],
      // Braces come in pairs, as the Dataverse UI copies ids: one alone is not a GUID.
      ['CallerObjectId', `{${ALICE.objectId}`],
      ['CallerObjectId', `${ALICE.objectId}}`],
    ] as const) {
      for (const r of [await api(em, app, 'WhoAmI()', { headers: { [header]: value } }), await api(em, app, 'accounts', { body: { name: 'bad' }, headers: { [header]: value } })]) {
        expect(r.status).toBe(400);
        expect(r.headers['odata-version']).toBe('4.0');
        const err = (r.json as { error: { code: string; message: string } }).error;
        expect(err.code).toBe('0x80040203');
        expect(err.message).toContain(header);
      }
    }
    expect(await accountCount()).toBe(before);
  });
});

describe('$batch', () => {
  it('applies the $batch request header to its operations, and a part header to that part only', async () => {
    const aliceId = await whoAmI(alice);
    const appId = await whoAmI(app);
    const boundary = `batch_${randomUUID()}`;
    const part = (extra: string) =>
      `--${boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET ${em.url}/api/data/v9.2/WhoAmI() HTTP/1.1\r\nAccept: application/json\r\n${extra}\r\n`;
    const r = await httpsRequest(em, {
      method: 'POST',
      path: '/api/data/v9.2/$batch',
      headers: { Authorization: `Bearer ${app}`, 'Content-Type': `multipart/mixed; boundary=${boundary}`, CallerObjectId: ALICE.objectId },
      body: `${part('')}${part(`MSCRMCallerID: ${appId}\r\n`)}--${boundary}--\r\n`,
    });
    expect(r.status).toBe(200);
    const ids = [...r.body.matchAll(/"UserId":"([0-9a-f-]{36})"/g)].map((m) => m[1]);
    expect(ids).toEqual([aliceId, appId]);
  });
});

describe('service protection', () => {
  it('charges the budget to the calling (token) user, not the impersonated one', async () => {
    const small = await startTestEmulator({ users: [ALICE], serviceProtection: { maxRequests: 3, windowInMs: 60_000 } });
    try {
      const smallApp = await appToken(small);
      const smallAlice = await passwordToken(small, ALICE);
      expect((await api(small, smallAlice, 'WhoAmI()')).status).toBe(200); // Alice: 1 of 3
      for (let i = 0; i < 3; i++) expect((await api(small, smallApp, 'WhoAmI()', { headers: { CallerObjectId: ALICE.objectId } })).status).toBe(200);
      const throttled = await api(small, smallApp, 'WhoAmI()', { headers: { CallerObjectId: ALICE.objectId } });
      expect(throttled.status).toBe(429);
      // Alice's own budget was not touched by the requests made as her.
      expect((await api(small, smallAlice, 'WhoAmI()')).status).toBe(200);
    } finally {
      await small.close();
    }
  });
});

describe('DynamicsClient with impersonate: { callerObjectId }', () => {
  it('changes WhoAmI and createdby through the real client and MSAL', async () => {
    const client = new DynamicsClient({
      url: em.url,
      ca: em.caPem,
      auth: { tokenUrl: em.tokenUrl, clientId: em.client.clientId, clientSecret: em.client.clientSecret },
    });
    try {
      const aliceId = await whoAmI(alice);
      const me = await client.callFunction<{ UserId: string }>('WhoAmI');
      const asAlice = await client.callFunction<{ UserId: string }>('WhoAmI', undefined, { impersonate: { callerObjectId: ALICE.objectId } });
      expect(asAlice.UserId).toBe(aliceId);
      expect(me.UserId).not.toBe(aliceId);

      const id = await client.create('accounts', { name: 'Client-side impersonation' }, { impersonate: { callerObjectId: ALICE.objectId } });
      const row = await client.retrieve('accounts', id, { select: ['_createdby_value', '_createdonbehalfby_value', '_ownerid_value'] });
      expect(row['_createdby_value']).toBe(aliceId);
      expect(row['_ownerid_value']).toBe(aliceId);
      expect(row['_createdonbehalfby_value']).toBe(me.UserId);

      // An unknown user surfaces as the client's typed error for a 404, with the Dataverse code.
      await expect(client.callFunction('WhoAmI', undefined, { impersonate: { callerObjectId: randomUUID() } })).rejects.toMatchObject({ status: 404 });
    } finally {
      client.close();
    }
  });
});
