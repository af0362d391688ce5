/**
 * The emulator's view of a `$metadata` document survives malformed documents it may be given: a
 * BaseType cycle ends the type chain instead of looping forever at start.
 */
import { loadModel } from '../../../src/csdl';
import { buildSchema } from '../../../src/emulator/dataverse/schema';

const CYCLE = `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
<EntityType Name="a" BaseType="mscrm.b"><Key><PropertyRef Name="aid"/></Key><Property Name="aid" Type="Edm.Guid"/></EntityType>
<EntityType Name="b" BaseType="mscrm.a"><Property Name="name" Type="Edm.String"/></EntityType>
<EntityContainer Name="System"><EntitySet Name="as" EntityType="Microsoft.Dynamics.CRM.a"/></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>`;

describe('emulator schema', () => {
  it('ends the type chain at a BaseType cycle instead of looping', () => {
    let model;
    try {
      model = loadModel(CYCLE);
    } catch {
      // A CSDL reader that refuses the cycle itself is as good: the emulator then fails to start, it does not hang.
      return;
    }
    const schema = buildSchema(model);
    expect([...(schema.sets.get('as')?.typeChain ?? [])]).toEqual(['Microsoft.Dynamics.CRM.a', 'Microsoft.Dynamics.CRM.b']);
  }, 10_000);
});
