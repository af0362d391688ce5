/**
 * The emulator's metadata API over plain HTTPS (no library code): EntityDefinitions basic info, the
 * option-set attribute queries the generator makes, their shapes compared with Microsoft's documented
 * responses, and FormattedValue annotations taken from the same embedded option sets.
 */
import type { Emulator } from '../../src/emulator';
import { DEFAULT_OPTION_SETS } from '../../src/emulator/schema/default-optionsets';
import { appToken, httpsRequest, startTestEmulator, type RawResponse } from '../helpers/emulator';

let em: Emulator;
let token: string;
const CRM = 'Microsoft.Dynamics.CRM';

type Json = Record<string, unknown> & { value?: Json[] };
function get(p: string, method = 'GET'): Promise<RawResponse> {
  return httpsRequest(em, {
    method,
    path: `/api/data/v9.2/${p}`,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', 'OData-Version': '4.0', 'OData-MaxVersion': '4.0' },
  });
}
const json = (r: RawResponse) => r.json as Json;

beforeAll(async () => {
  em = await startTestEmulator({ seed: 200 });
  token = await appToken(em);
});
afterAll(async () => {
  await em.close();
});

/** A label as Dataverse serialises it (one language). */
const label = (text: string, id: string) => {
  const l = { Label: text, LanguageCode: 1033, IsManaged: true, MetadataId: id, HasChanged: null };
  return { LocalizedLabels: [l], UserLocalizedLabel: l };
};
const option = (value: number, text: string, id: string) => ({
  Value: value,
  Color: null,
  IsManaged: true,
  ExternalValue: null,
  ParentValues: [],
  Tag: null,
  IsHidden: false,
  MetadataId: null,
  HasChanged: null,
  Label: label(text, id),
  Description: { LocalizedLabels: [], UserLocalizedLabel: null },
});

describe('EntityDefinitions', () => {
  it('retrieves a table by LogicalName with its basic definition, and $select keeps MetadataId', async () => {
    const r = await get("EntityDefinitions(LogicalName='account')");
    expect(r.status).toBe(200);
    expect(json(r)).toEqual({
      '@odata.context': `${em.url}/api/data/v9.2/$metadata#EntityDefinitions/$entity`,
      // The real MetadataId of account (the same in Microsoft's examples and in the capture).
      MetadataId: '70816501-edb9-4740-a16c-6a5efbc05d84',
      LogicalName: 'account',
      SchemaName: 'Account',
      EntitySetName: 'accounts',
      PrimaryIdAttribute: 'accountid',
      PrimaryNameAttribute: 'name',
    });
    const selected = await get("EntityDefinitions(LogicalName='contact')?$select=EntitySetName,PrimaryNameAttribute");
    expect(json(selected)).toEqual({
      '@odata.context': `${em.url}/api/data/v9.2/$metadata#EntityDefinitions(EntitySetName,PrimaryNameAttribute)/$entity`,
      MetadataId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      EntitySetName: 'contacts',
      PrimaryNameAttribute: 'fullname',
    });
    // The same id on every start, and the table can be addressed by it.
    const byId = await get(`EntityDefinitions(${String(json(selected)['MetadataId'])})?$select=LogicalName`);
    expect(json(byId)['LogicalName']).toBe('contact');
  });

  it('lists every table of the $metadata (not the abstract CSDL base types without an entity set)', async () => {
    const r = await get('EntityDefinitions?$select=LogicalName,EntitySetName');
    expect(r.status).toBe(200);
    expect(json(r)['@odata.context']).toBe(`${em.url}/api/data/v9.2/$metadata#EntityDefinitions(LogicalName,EntitySetName)`);
    const names = (json(r).value ?? []).map((e) => e['LogicalName']).sort();
    expect(names).toEqual(['account', 'activitypointer', 'contact', 'incident', 'lead', 'opportunity', 'sample_document', 'sample_sensordata', 'systemuser', 'task']);
    expect(json(r).value?.every((e) => Object.keys(e).sort().join() === 'EntitySetName,LogicalName,MetadataId')).toBe(true);
  });

  it('answers an unknown table 404, a write 405 and unemulated parts 501, in Dataverse\'s error shape', async () => {
    const missing = await get("EntityDefinitions(LogicalName='nosuchtable')");
    expect(missing.status).toBe(404);
    expect(json(missing)).toEqual({ error: { code: '0x80040217', message: 'Could not find an entity with name nosuchtable and id 00000000-0000-0000-0000-000000000000.' } });
    expect((await get("EntityDefinitions(LogicalName='account')", 'DELETE')).status).toBe(405);
    for (const p of [
      "EntityDefinitions(LogicalName='account')/Attributes",
      `EntityDefinitions(LogicalName='account')/Attributes/${CRM}.MoneyAttributeMetadata?$select=LogicalName,Precision`,
      `EntityDefinitions(LogicalName='account')/Attributes/${CRM}.PicklistAttributeMetadata?$select=RequiredLevel`,
      "EntityDefinitions?$filter=LogicalName eq 'account'",
    ]) {
      const r = await get(p);
      expect({ p, status: r.status }).toEqual({ p, status: 501 });
      expect(Object.keys(json(r)['error'] as object).sort()).toEqual(['code', 'message']);
      expect(String((json(r)['error'] as { message: string }).message)).toMatch(/^The dynamics-odata emulator does not emulate /);
    }
  });
});

describe('option-set attributes', () => {
  it("answers the documented single-attribute query exactly as Microsoft's example shows", async () => {
    // retrieve-metadata-name-metadataid.md, "Example: Retrieve schema definitions by name".
    const r = await get(
      `EntityDefinitions(LogicalName='account')/Attributes(LogicalName='accountcategorycode')/${CRM}.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)`,
    );
    expect(r.status).toBe(200);
    const options = [option(1, 'Preferred Customer', '0bd8a218-2341-db11-898a-0007e9e17ebd'), option(2, 'Standard', '0dd8a218-2341-db11-898a-0007e9e17ebd')];
    expect(json(r)).toEqual({
      '@odata.context': `${em.url}/api/data/v9.2/$metadata#EntityDefinitions('account')/Attributes/${CRM}.PicklistAttributeMetadata(LogicalName,OptionSet(Options),GlobalOptionSet(Options))/$entity`,
      MetadataId: '118771ca-6fb9-4f60-8fd4-99b6124b63ad',
      LogicalName: 'accountcategorycode',
      OptionSet: { MetadataId: 'b994cdd8-5ce9-4ab9-bdd3-8888ebdb0407', Options: options },
      GlobalOptionSet: { MetadataId: 'b994cdd8-5ce9-4ab9-bdd3-8888ebdb0407', Options: options },
    });
    expect(String(r.headers['content-type'])).toMatch(/^application\/json; odata\.metadata=minimal/);
    // …and the option set alone, as in query-metadata-web-api.md "Retrieving attributes".
    const alone = await get(`EntityDefinitions(LogicalName='account')/Attributes(118771ca-6fb9-4f60-8fd4-99b6124b63ad)/${CRM}.PicklistAttributeMetadata/OptionSet?$select=Options`);
    expect(json(alone)).toEqual({
      '@odata.context': `${em.url}/api/data/v9.2/$metadata#EntityDefinitions('account')/Attributes(118771ca-6fb9-4f60-8fd4-99b6124b63ad)/${CRM}.PicklistAttributeMetadata/OptionSet(Options)/$entity`,
      MetadataId: 'b994cdd8-5ce9-4ab9-bdd3-8888ebdb0407',
      Options: options,
    });
  });

  it('answers the casts the generator requests, with $select honoured and both navigations expanded', async () => {
    const r = await get(`EntityDefinitions(LogicalName='account')/Attributes/${CRM}.PicklistAttributeMetadata?$select=LogicalName,SchemaName,AttributeType&$expand=OptionSet,GlobalOptionSet`);
    expect(r.status).toBe(200);
    const body = json(r);
    expect(body['@odata.context']).toBe(`${em.url}/api/data/v9.2/$metadata#EntityDefinitions('account')/Attributes/${CRM}.PicklistAttributeMetadata(LogicalName,SchemaName,AttributeType,OptionSet,GlobalOptionSet)`);
    const value = body.value ?? [];
    const embedded = DEFAULT_OPTION_SETS.find((e) => e.logicalName === 'account')!.attributes.filter((a) => a.kind === 'Picklist');
    expect(value.map((a) => a['LogicalName'])).toEqual(embedded.map((a) => a.logicalName));
    for (const a of value) expect(Object.keys(a)).toEqual(['MetadataId', 'LogicalName', 'SchemaName', 'AttributeType', 'OptionSet', 'GlobalOptionSet']);
    const industry = value.find((a) => a['LogicalName'] === 'industrycode')!;
    expect(industry).toMatchObject({ SchemaName: 'IndustryCode', AttributeType: 'Picklist' });
    const set = industry['OptionSet'] as Json & { Options: Json[] };
    expect(set).toMatchObject({ Name: 'account_industrycode', IsGlobal: false, OptionSetType: 'Picklist', ParentOptionSetName: null });
    expect(set.Options.slice(0, 3).map((o) => [o['Value'], (o['Label'] as { UserLocalizedLabel: { Label: string } }).UserLocalizedLabel.Label])).toEqual([
      [1, 'Accounting'],
      [2, 'Agriculture and Non-petrol Natural Resource Extraction'],
      [3, 'Broadcasting Printing and Publishing'],
    ]);
    expect(set.Options).toHaveLength(33);
  });

  it('serialises State, Status and Boolean option sets with their own option types', async () => {
    const state = json(await get(`EntityDefinitions(LogicalName='opportunity')/Attributes/${CRM}.StateAttributeMetadata?$select=LogicalName&$expand=OptionSet`)).value ?? [];
    expect(state).toHaveLength(1);
    const stateOptions = (state[0]!['OptionSet'] as { Options: Json[] }).Options;
    expect(stateOptions.map((o) => [o['@odata.type'], o['Value'], o['DefaultStatus'], o['InvariantName']])).toEqual([
      [`#${CRM}.StateOptionMetadata`, 0, 1, 'Open'],
      [`#${CRM}.StateOptionMetadata`, 1, 3, 'Won'],
      [`#${CRM}.StateOptionMetadata`, 2, 4, 'Lost'],
    ]);
    const status = json(await get(`EntityDefinitions(LogicalName='opportunity')/Attributes/${CRM}.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet`)).value ?? [];
    const statusOptions = (status[0]!['OptionSet'] as { Options: Json[] }).Options;
    expect(statusOptions.every((o) => o['@odata.type'] === `#${CRM}.StatusOptionMetadata` && typeof o['State'] === 'number' && o['TransitionData'] === null)).toBe(true);
    // Every status belongs to a state, and every state's default status exists.
    const stateValues = new Set(stateOptions.map((o) => o['Value']));
    expect(statusOptions.every((o) => stateValues.has(o['State']))).toBe(true);
    const statusValues = new Set(statusOptions.map((o) => o['Value']));
    expect(stateOptions.every((o) => statusValues.has(o['DefaultStatus']))).toBe(true);

    const booleans = json(await get(`EntityDefinitions(LogicalName='account')/Attributes/${CRM}.BooleanAttributeMetadata?$select=LogicalName,AttributeType&$expand=OptionSet`)).value ?? [];
    const creditonhold = booleans.find((a) => a['LogicalName'] === 'creditonhold')!;
    expect(creditonhold['AttributeType']).toBe('Boolean');
    const set = creditonhold['OptionSet'] as Json;
    expect(set).toMatchObject({ OptionSetType: 'Boolean', Name: 'account_creditonhold', TrueOption: { Value: 1 }, FalseOption: { Value: 0 } });
    expect('Options' in set).toBe(false);
  });

  it('answers an empty value for a table or a type without embedded option sets', async () => {
    for (const p of [
      `EntityDefinitions(LogicalName='contact')/Attributes/${CRM}.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet,GlobalOptionSet`,
      `EntityDefinitions(LogicalName='task')/Attributes/${CRM}.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet`,
      `EntityDefinitions(LogicalName='account')/Attributes/${CRM}.MultiSelectPicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet,GlobalOptionSet`,
    ]) {
      const r = await get(p);
      expect({ p, status: r.status, value: json(r).value }).toEqual({ p, status: 200, value: [] });
    }
  });
});

describe('FormattedValue annotations from the same option sets', () => {
  const FV = 'OData.Community.Display.V1.FormattedValue';
  async function createAndRead(set: string, record: Json, select: string): Promise<Json> {
    const created = await httpsRequest(em, {
      method: 'POST',
      path: `/api/data/v9.2/${set}?$select=${select}`,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Prefer: 'return=representation,odata.include-annotations="OData.Community.Display.V1.FormattedValue"' },
      body: JSON.stringify(record),
    });
    expect(created.status).toBe(201);
    return json(created);
  }

  it('labels choice, status and Yes/No columns with the real labels', async () => {
    const account = await createAndRead('accounts', { name: 'Labels Ltd', industrycode: 7, accountcategorycode: 1, customertypecode: 2, creditonhold: true }, 'industrycode,accountcategorycode,customertypecode,creditonhold,statecode,statuscode');
    expect(account).toMatchObject({
      [`industrycode@${FV}`]: 'Consulting',
      [`accountcategorycode@${FV}`]: 'Preferred Customer',
      [`customertypecode@${FV}`]: 'Consultant',
      [`creditonhold@${FV}`]: 'Yes',
      [`statecode@${FV}`]: 'Active',
      [`statuscode@${FV}`]: 'Active',
    });
    const opportunity = await createAndRead('opportunities', { name: 'Deal', budgetstatus: 2, captureproposalfeedback: true }, 'budgetstatus,captureproposalfeedback,statecode,statuscode');
    expect(opportunity).toMatchObject({
      [`budgetstatus@${FV}`]: 'Can Buy',
      [`statecode@${FV}`]: 'Open',
      [`statuscode@${FV}`]: 'In Progress',
      // The captured org labels TrueOption of this column "No": the emulator repeats the metadata, not a guess.
      [`captureproposalfeedback@${FV}`]: 'No',
    });
  });

  it("keeps the seeded accounts' option values valid against the real option sets", () => {
    const account = DEFAULT_OPTION_SETS.find((e) => e.logicalName === 'account')!;
    const valid = (column: string) => new Set(account.attributes.find((a) => a.logicalName === column)!.optionSet.options.map((o) => o.value));
    const rows = em.store.rows('accounts');
    expect(rows.length).toBeGreaterThanOrEqual(200);
    for (const column of ['industrycode', 'statecode', 'statuscode']) {
      const allowed = valid(column);
      const bad = rows.filter((r) => r[column] !== null && r[column] !== undefined && !allowed.has(r[column] as number));
      expect({ column, bad: bad.length }).toEqual({ column, bad: 0 });
    }
  });
});
