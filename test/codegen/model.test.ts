import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildModel, CodegenError, loadModel, readCsdl } from '../../src/codegen';

const REAL = path.resolve(__dirname, '../../../shared/fixtures/real');

/** A small document in the shape Dataverse serves: alias `mscrm`, abstract base, activity family. */
const CSDL = `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:Reference Uri="http://vocabularies.odata.org/OData.Community.Keys.V1.xml">
    <edmx:Include Namespace="OData.Community.Keys.V1" Alias="Keys" />
  </edmx:Reference>
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="crmbaseentity" Abstract="true" />
      <EntityType Name="expando" BaseType="mscrm.crmbaseentity" OpenType="true" />
      <EntityType Name="account" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="accountid" /></Key>
        <Property Name="accountid" Type="Edm.Guid" />
        <Property Name="name" Type="Edm.String" Unicode="false" MaxLength="160" />
        <Property Name="revenue" Type="Edm.Decimal" Scale="Variable" />
        <Property Name="revenue_base" Type="Edm.Decimal" Scale="Variable" />
        <Property Name="accountnumber" Type="Edm.String" />
        <Property Name="createdon" Type="Edm.DateTimeOffset" />
        <Property Name="overriddencreatedon" Type="Edm.DateTimeOffset" />
        <Property Name="_primarycontactid_value" Type="Edm.Guid" />
        <Property Name="_createdby_value" Type="Edm.Guid" />
        <Property Name="_parentcustomerid_value" Type="Edm.Guid" />
        <NavigationProperty Name="primarycontactid" Type="mscrm.contact" Nullable="false" Partner="account_primary_contact">
          <ReferentialConstraint Property="_primarycontactid_value" ReferencedProperty="contactid" />
        </NavigationProperty>
        <NavigationProperty Name="createdby" Type="mscrm.systemuser" Partner="lk_accountbase_createdby">
          <ReferentialConstraint Property="_createdby_value" ReferencedProperty="systemuserid" />
        </NavigationProperty>
        <NavigationProperty Name="parentcustomerid_account" Type="mscrm.account">
          <ReferentialConstraint Property="_parentcustomerid_value" ReferencedProperty="accountid" />
        </NavigationProperty>
        <NavigationProperty Name="parentcustomerid_contact" Type="mscrm.contact">
          <ReferentialConstraint Property="_parentcustomerid_value" ReferencedProperty="contactid" />
        </NavigationProperty>
        <NavigationProperty Name="contact_customer_accounts" Type="Collection(mscrm.contact)" Partner="parentcustomerid_account" />
        <Annotation Term="Keys.AlternateKeys">
          <Collection>
            <Record Type="Keys.AlternateKey">
              <PropertyValue Property="Key">
                <Collection>
                  <Record Type="Keys.PropertyRef">
                    <PropertyValue Property="Alias" String="accountnumber" />
                    <PropertyValue Property="Name" PropertyPath="accountnumber" />
                  </Record>
                </Collection>
              </PropertyValue>
            </Record>
          </Collection>
        </Annotation>
      </EntityType>
      <EntityType Name="contact" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="contactid" /></Key>
        <Property Name="contactid" Type="Edm.Guid" />
        <Property Name="firstname" Type="Edm.String" />
        <Property Name="fullname" Type="Edm.String" />
        <Property Name="address1_composite" Type="Edm.String" />
      </EntityType>
      <EntityType Name="systemuser" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="systemuserid" /></Key>
        <Property Name="systemuserid" Type="Edm.Guid" />
      </EntityType>
      <EntityType Name="activitypointer" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="activityid" /></Key>
        <Property Name="activityid" Type="Edm.Guid" />
        <Property Name="subject" Type="Edm.String" />
      </EntityType>
      <EntityType Name="email" BaseType="mscrm.activitypointer">
        <Property Name="sender" Type="Edm.String" />
      </EntityType>
      <EntityType Name="solution" BaseType="mscrm.crmbaseentity">
        <Key><PropertyRef Name="solutionid" /></Key>
        <Property Name="solutionid" Type="Edm.Guid" />
      </EntityType>
      <ComplexType Name="Solution"><Property Name="Id" Type="Edm.Guid" /></ComplexType>
      <ComplexType Name="WhoAmIResponse">
        <Property Name="BusinessUnitId" Type="Edm.Guid" Nullable="false" />
        <Property Name="UserId" Type="Edm.Guid" Nullable="false" />
      </ComplexType>
      <EnumType Name="AccessRights" IsFlags="true">
        <Member Name="None" Value="0" /><Member Name="ReadAccess" Value="1" /><Member Name="WriteAccess" Value="2" />
      </EnumType>
      <EnumType Name="Implicit"><Member Name="A" /><Member Name="B" /></EnumType>
      <Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" /></Function>
      <Action Name="Merge" IsBound="true">
        <Parameter Name="entity" Type="mscrm.account" Nullable="false" />
        <Parameter Name="Target" Type="mscrm.crmbaseentity" Nullable="false" />
        <Parameter Name="Rights" Type="mscrm.AccessRights" />
        <Parameter Name="Note" Type="Edm.String"><Annotation Term="Org.OData.Core.V1.OptionalParameter" /></Parameter>
      </Action>
      <Action Name="Merge" IsBound="true">
        <Parameter Name="entity" Type="mscrm.contact" Nullable="false" />
        <Parameter Name="Target" Type="mscrm.crmbaseentity" Nullable="false" />
      </Action>
      <Function Name="RetrieveUserQueues" IsBound="true" IsComposable="true">
        <Parameter Name="entity" Type="Collection(mscrm.systemuser)" Nullable="false" />
        <Parameter Name="IncludePublic" Type="Edm.Boolean" Nullable="false" />
        <ReturnType Type="Collection(mscrm.systemuser)" Nullable="false" />
      </Function>
      <EntityContainer Name="System">
        <EntitySet Name="accounts" EntityType="Microsoft.Dynamics.CRM.account">
          <NavigationPropertyBinding Path="primarycontactid" Target="contacts" />
        </EntitySet>
        <EntitySet Name="contacts" EntityType="Microsoft.Dynamics.CRM.contact" />
        <EntitySet Name="systemusers" EntityType="Microsoft.Dynamics.CRM.systemuser" />
        <EntitySet Name="emails" EntityType="Microsoft.Dynamics.CRM.email" />
        <EntitySet Name="solutions" EntityType="Microsoft.Dynamics.CRM.solution" />
        <FunctionImport Name="WhoAmI" Function="Microsoft.Dynamics.CRM.WhoAmI" />
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>`;

/** The same document on one line, as Dataverse serves it. */
const ONE_LINE = CSDL.replace(/>\s+</g, '><');

describe('readCsdl', () => {
  it('reads one-line and pretty-printed documents to the same shape', () => {
    expect(readCsdl(ONE_LINE)).toEqual(readCsdl(CSDL));
  });

  it('resolves aliases in types, base types and annotation terms', () => {
    const doc = readCsdl(CSDL);
    const schema = doc.schemas[0]!;
    const account = schema.entityTypes.find((t) => t.name === 'account')!;
    expect(account.baseType).toBe('Microsoft.Dynamics.CRM.crmbaseentity');
    expect(account.navigationProperties[0]!.type).toEqual({ name: 'Microsoft.Dynamics.CRM.contact', isCollection: false });
    expect(account.navigationProperties[4]!.type).toEqual({ name: 'Microsoft.Dynamics.CRM.contact', isCollection: true });
    expect(account.annotations[0]!.term).toBe('OData.Community.Keys.V1.AlternateKeys');
    expect(account.properties.find((p) => p.name === 'name')!.maxLength).toBe(160);
    expect(account.properties.find((p) => p.name === 'revenue')!.scale).toBe('variable');
  });

  it('rejects text that is not CSDL with a clear error', () => {
    expect(() => readCsdl('<html><body>Sign in</body></html>')).toThrow(/expected an <edmx:Edmx> root element, got "<html>/);
    expect(() => readCsdl('')).toThrow(CodegenError);
    expect(() => readCsdl('<edmx:Edmx xmlns:edmx="x" Version="4.0"><edmx:DataServices/></edmx:Edmx>')).toThrow(/no <Schema> element/);
    expect(() =>
      readCsdl('<edmx:Edmx xmlns:edmx="x" Version="4.0"><edmx:DataServices><Schema Namespace="N"><EntityType/></Schema></edmx:DataServices></edmx:Edmx>'),
    ).toThrow(/<EntityType> without the required Name attribute/);
  });
});

describe('buildModel', () => {
  const model = loadModel(CSDL);
  const account = model.entityTypes.get('Microsoft.Dynamics.CRM.account')!;

  it('gives the service namespace, alias and container', () => {
    expect(model.namespace).toBe('Microsoft.Dynamics.CRM');
    expect(model.alias).toBe('mscrm');
    expect(model.containerName).toBe('System');
    expect(model.entitySets.map((s) => s.name)).toEqual(['accounts', 'contacts', 'systemusers', 'emails', 'solutions']);
  });

  it('models keys, entity sets, alternate keys and the primary name', () => {
    expect(account.key).toEqual(['accountid']);
    expect(account.entitySetName).toBe('accounts');
    expect(account.alternateKeys).toEqual([['accountnumber']]);
    expect(account.primaryNameAttribute).toBe('name');
    expect(model.entityTypes.get('Microsoft.Dynamics.CRM.contact')!.primaryNameAttribute).toBe('fullname');
  });

  it('flattens base types: email inherits activitypointer key and columns', () => {
    const email = model.entityTypes.get('Microsoft.Dynamics.CRM.email')!;
    expect(email.key).toEqual(['activityid']);
    expect(email.properties.map((p) => p.name)).toEqual(['activityid', 'subject', 'sender']);
    expect(email.primaryNameAttribute).toBe('subject');
    expect(email.baseType).toBe('Microsoft.Dynamics.CRM.activitypointer');
  });

  it('handles keyless abstract and open types', () => {
    const base = model.entityTypes.get('Microsoft.Dynamics.CRM.crmbaseentity')!;
    expect(base).toMatchObject({ abstract: true, key: [], properties: [], openType: false });
    expect(model.entityTypes.get('Microsoft.Dynamics.CRM.expando')).toMatchObject({ openType: true, key: [] });
  });

  it('ties _x_value lookups to their navigation properties, polymorphic ones to each', () => {
    const p = (n: string) => account.properties.find((x) => x.name === n)!;
    expect(p('_primarycontactid_value')).toMatchObject({ readOnly: true, lookupNavigationProperties: ['primarycontactid'] });
    expect(p('_parentcustomerid_value').lookupNavigationProperties).toEqual(['parentcustomerid_account', 'parentcustomerid_contact']);
    const nav = account.navigationProperties.find((n) => n.name === 'primarycontactid')!;
    expect(nav).toMatchObject({
      targetType: 'Microsoft.Dynamics.CRM.contact',
      targetEntitySet: 'contacts',
      isCollection: false,
      partner: 'account_primary_contact',
      referentialConstraints: [{ property: '_primarycontactid_value', referencedProperty: 'contactid' }],
    });
    expect(account.navigationProperties.find((n) => n.name === 'contact_customer_accounts')).toMatchObject({ isCollection: true, targetEntitySet: 'contacts' });
    expect(account.navigationProperties.find((n) => n.name === 'createdby')!.readOnly).toBe(true);
    expect(nav.readOnly).toBeUndefined();
  });

  it('infers read-only and create-only columns', () => {
    const flags = (e: string, n: string) => {
      const prop = model.entityTypes.get(`Microsoft.Dynamics.CRM.${e}`)!.properties.find((x) => x.name === n)!;
      return { readOnly: prop.readOnly, createOnly: prop.createOnly ?? false };
    };
    expect(flags('account', 'name')).toEqual({ readOnly: false, createOnly: false });
    expect(flags('account', 'createdon')).toEqual({ readOnly: true, createOnly: false });
    expect(flags('account', 'revenue_base')).toEqual({ readOnly: true, createOnly: false });
    expect(flags('account', 'revenue')).toEqual({ readOnly: false, createOnly: false });
    expect(flags('account', 'overriddencreatedon')).toEqual({ readOnly: false, createOnly: true });
    expect(flags('account', 'accountid')).toEqual({ readOnly: false, createOnly: true });
    expect(flags('contact', 'fullname')).toEqual({ readOnly: true, createOnly: false });
    expect(flags('contact', 'address1_composite')).toEqual({ readOnly: true, createOnly: false });
  });

  it('makes identifiers and file names collision-free: solution vs Solution', () => {
    expect(model.entityTypes.get('Microsoft.Dynamics.CRM.solution')).toMatchObject({ identifier: 'Solution', fileName: 'solution' });
    expect(model.complexTypes.get('Microsoft.Dynamics.CRM.Solution')).toMatchObject({ identifier: 'Solution_1', fileName: 'solution_1' });
    const all = [...model.entityTypes.values(), ...model.complexTypes.values(), ...model.enumTypes.values(), ...model.operations];
    expect(new Set(all.map((x) => x.identifier)).size).toBe(all.length);
  });

  it('models enum types with IsFlags and implicit values', () => {
    expect(model.enumTypes.get('Microsoft.Dynamics.CRM.AccessRights')).toMatchObject({
      isFlags: true,
      underlyingType: 'Edm.Int32',
      members: [
        { name: 'None', value: 0 },
        { name: 'ReadAccess', value: 1 },
        { name: 'WriteAccess', value: 2 },
      ],
    });
    expect(model.enumTypes.get('Microsoft.Dynamics.CRM.Implicit')!.members).toEqual([
      { name: 'A', value: 0 },
      { name: 'B', value: 1 },
    ]);
  });

  it('models bound and unbound operations, overloads, optional parameters and return types', () => {
    const whoAmI = model.operations.find((o) => o.name === 'WhoAmI')!;
    expect(whoAmI).toMatchObject({
      kind: 'function',
      identifier: 'WhoAmI',
      isBound: false,
      imported: true,
      parameters: [],
      returnType: { type: { kind: 'complex', qualifiedName: 'Microsoft.Dynamics.CRM.WhoAmIResponse' }, isCollection: false, nullable: false },
    });
    const merges = model.operations.filter((o) => o.name === 'Merge');
    expect(merges.map((o) => [o.identifier, o.bindingType])).toEqual([
      ['Merge_Account', 'Microsoft.Dynamics.CRM.account'],
      ['Merge_Contact', 'Microsoft.Dynamics.CRM.contact'],
    ]);
    expect(merges[0]!.parameters).toEqual([
      { name: 'Target', type: { kind: 'entity', qualifiedName: 'Microsoft.Dynamics.CRM.crmbaseentity' }, isCollection: false, nullable: false, optional: false },
      { name: 'Rights', type: { kind: 'enum', qualifiedName: 'Microsoft.Dynamics.CRM.AccessRights' }, isCollection: false, nullable: true, optional: false },
      { name: 'Note', type: { kind: 'primitive', edmType: 'Edm.String' }, isCollection: false, nullable: true, optional: true },
    ]);
    const queues = model.operations.find((o) => o.name === 'RetrieveUserQueues')!;
    expect(queues).toMatchObject({ identifier: 'RetrieveUserQueues', bindingIsCollection: true, isComposable: true, returnType: { isCollection: true } });
    // Document order is kept.
    expect(model.operations.map((o) => o.name)).toEqual(['Merge', 'Merge', 'WhoAmI', 'RetrieveUserQueues']);
  });

  it('buildModel(readCsdl(x)) equals loadModel(x)', () => {
    expect(buildModel(readCsdl(CSDL))).toEqual(model);
  });
});

describe('the real documents', () => {
  it.each([
    ['metadata-v9.0-onprem-bcgov-lcrb.xml', 423, 243, 45, 381, 394],
    ['metadata-v9.0-onprem-bcgov-embc-connectedservice.xml', 360, 253, 45, 391, 331],
    ['metadata-v9.1-online-crm4.xml', 300, 349, 51, 382, 269],
  ])('%s models every type, operation and entity set', (file, entities, complex, enums, operations, sets) => {
    const model = loadModel(fs.readFileSync(path.join(REAL, file), 'utf8'));
    expect([model.entityTypes.size, model.complexTypes.size, model.enumTypes.size, model.operations.length, model.entitySets.length]).toEqual([
      entities,
      complex,
      enums,
      operations,
      sets,
    ]);
    const account = model.entityTypes.get('Microsoft.Dynamics.CRM.account')!;
    expect(account).toMatchObject({ identifier: 'Account', entitySetName: 'accounts', key: ['accountid'], primaryNameAttribute: 'name' });
    expect(account.navigationProperties.find((n) => n.name === 'primarycontactid')!.targetEntitySet).toBe('contacts');
    const ids = [...model.entityTypes.values(), ...model.complexTypes.values(), ...model.enumTypes.values(), ...model.operations].map((x) => x.identifier);
    expect(new Set(ids).size).toBe(ids.length);
    const files = [...model.entityTypes.values()].map((e) => e.fileName.toLowerCase());
    expect(new Set(files).size).toBe(files.length);
  });
});
