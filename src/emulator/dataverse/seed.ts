/**
 * Deterministic, realistic seed data: N accounts and N contacts from a seeded PRNG, so every run with
 * the same N produces the same rows (ids included). Names include apostrophes (O'Brien) and non-ASCII
 * letters so that clients' escaping and encoding get exercised.
 */
import type { Row } from './store';
import type { DataStore } from './store';
import type { EntitySetInfo, ServiceSchema } from './schema';

/** mulberry32: small, fast, good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function guid(rand: () => number): string {
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
  // Version-4 layout so the ids look like the ones Dataverse and clients generate.
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + Math.floor(rand() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
}

const FIRST = ['Anna', 'Liam', 'Zoë', 'José', 'Łukasz', 'Björk', 'Renée', 'Noah', 'Olivia', 'Mateo', 'Aisha', 'Chloé', 'Søren', 'Yuki', 'Priya', 'Conor', 'Siobhán', 'Dmitri', 'Fatima', 'Grace', 'Hugo', 'Ingrid', 'Kwame', 'Lucía', 'Mei', 'Nikolai', 'Óscar', 'Paul', 'Rosa', 'Tomás'];
const LAST = ["O'Brien", "O'Neill", "D'Angelo", 'Müller', 'Smith', 'García', 'Nguyen', 'Kowalski', 'Johansson', 'Dubois', 'Rossi', 'Tanaka', '山田', 'Ivanova', 'Okafor', 'Patel', 'Brown', 'Fernández', 'Kim', 'Wilson', 'Lefèvre', 'Schmidt', 'Novák', 'Andersen', 'Costa'];
const COMPANY_A = ['Contoso', 'Fabrikam', 'Northwind', 'Adventure Works', 'Tailspin', 'Litware', 'Proseware', 'Wingtip', 'Alpine Ski', 'Blue Yonder', 'Coho Winery', 'Fourth Coffee', 'Lamna', 'Margie’s Travel', 'Trey Research', 'Wide World', 'Woodgrove', "O'Reilly & Sons", 'Zürich Partners', 'Café Olé'];
const COMPANY_B = ['Ltd', 'Inc.', 'GmbH', 'S.A.', 'Group', 'Holdings', 'Labs', '& Co', 'Partners', 'Services'];
const CITIES = ['Seattle', 'Redmond', 'London', 'Dublin', 'München', 'São Paulo', 'Kraków', 'Tokyo', 'Montréal', 'Zürich', 'Oslo', 'Lagos', 'Mumbai', 'Sydney', 'Toronto'];
const JOBS = ['Purchasing Manager', 'CEO', 'CTO', 'Sales Director', 'Engineer', 'Analyst', 'Buyer', 'Consultant'];

const DAY = 86_400_000;
/** Seed dates count back from a fixed instant so reruns are identical. */
const EPOCH = Date.UTC(2025, 0, 1);

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T;
}

function ascii(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z0-9]/g, '').toLowerCase() || 'user';
}

/** Keeps only columns the entity set has (any metadata may be loaded). */
function only(info: EntitySetInfo, row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) if (info.columns.has(k) || k.includes('@')) out[k] = v;
  return out;
}

/** Inserts `count` accounts and `count` contacts; returns how many of each were created. */
export function seed(store: DataStore, schema: ServiceSchema, count: number): { accounts: number; contacts: number } {
  if (!Number.isInteger(count) || count <= 0) return { accounts: 0, contacts: 0 };
  const rand = prng(0x5eed ^ count);
  const accounts = schema.sets.get('accounts');
  const contacts = schema.sets.get('contacts');
  const accountIds: string[] = [];
  if (accounts) {
    for (let i = 1; i <= count; i++) {
      const created = EPOCH - Math.floor(rand() * 1000 * DAY);
      const name = `${pick(rand, COMPANY_A)} ${pick(rand, COMPANY_B)} ${i}`;
      const revenue = Math.round(rand() * 5_000_000 * 100) / 100;
      const inactive = rand() < 0.1;
      const row = only(accounts, {
        accountid: guid(rand),
        name,
        accountnumber: `A${String(i).padStart(6, '0')}`,
        address1_city: pick(rand, CITIES),
        emailaddress1: `info@${ascii(name.split(' ')[0] as string)}${i}.example.com`,
        telephone1: `+1-555-${String(1000 + Math.floor(rand() * 9000))}`,
        revenue,
        revenue_base: revenue,
        numberofemployees: 1 + Math.floor(rand() * 5000),
        industrycode: 1 + Math.floor(rand() * 10),
        statecode: inactive ? 1 : 0,
        statuscode: inactive ? 2 : 1,
        createdon: stamp(created),
        modifiedon: stamp(created + Math.floor(rand() * 30) * DAY),
      });
      accountIds.push(store.create(accounts.name, store.withSystemColumns(accounts, row, new Date(created))));
    }
  }
  let contactCount = 0;
  if (contacts) {
    const linkAccount = accounts !== undefined && contacts.columns.has('_parentcustomerid_value');
    for (let i = 1; i <= count; i++) {
      const created = EPOCH - Math.floor(rand() * 1000 * DAY);
      const first = pick(rand, FIRST);
      const last = pick(rand, LAST);
      const inactive = rand() < 0.1;
      const parent = linkAccount && rand() < 0.6 ? accountIds[Math.floor(rand() * accountIds.length)] : undefined;
      const row = only(contacts, {
        contactid: guid(rand),
        firstname: first,
        lastname: last,
        fullname: `${first} ${last}`,
        emailaddress1: `${ascii(first)}.${ascii(last)}${i}@example.com`,
        jobtitle: pick(rand, JOBS),
        address1_city: pick(rand, CITIES),
        telephone1: `+1-555-${String(1000 + Math.floor(rand() * 9000))}`,
        statecode: inactive ? 1 : 0,
        statuscode: inactive ? 2 : 1,
        createdon: stamp(created),
        modifiedon: stamp(created),
        ...(parent
          ? { _parentcustomerid_value: parent, '_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'account' }
          : {}),
      });
      store.create(contacts.name, store.withSystemColumns(contacts, row, new Date(created)));
      contactCount++;
    }
  }
  return { accounts: accountIds.length, contacts: contactCount };
}
