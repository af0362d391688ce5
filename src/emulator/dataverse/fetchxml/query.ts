/**
 * A FetchXML document read into the query the emulator runs: the tables it reads (the entity and its
 * link-entities, in document order), their attributes, filters and orders, and the `<fetch>`
 * settings, each checked against the schema as Dataverse checks it
 * (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/fetch and the
 * pages of the other elements beside it).
 *
 * Codes and texts: an unknown attribute gets Dataverse's QueryBuilderNoAttribute (`0x80041103`,
 * "'account' entity doesn't contain attribute with Name = 'x' and NameMapping = 'Logical'."), the
 * link-entity limit its documented `0x8004430D`; the other refusals are 400s with code `0x80040203`
 * (InvalidArgument) and a message naming the problem, as Dataverse's exact texts for them are not
 * documented.
 */
import { dvErrors } from '../errors';
import type { ColumnInfo, EntitySetInfo, ServiceSchema } from '../schema';
import { arityOf } from '../shared/conditions';
import { isElastic } from '../shared/tables';
import { parseXml, type XmlElement } from './xml';

/** Dataverse's largest page and `top` (fetchxml/page-results). */
export const MAX_FETCH_COUNT = 5000;
/** The default and largest FetchXML page of an elastic table (fetchxml/page-results, 2024-12 revision). */
export const MAX_ELASTIC_FETCH_COUNT = 500;
/** Most link-entity elements in one query (fetchxml/join-tables). */
export const MAX_LINK_ENTITIES = 15;

export type AggregateFn = 'count' | 'countcolumn' | 'sum' | 'avg' | 'min' | 'max';

export interface FetchAttribute {
  /** Index of the table (0: the entity, then link-entities in document order). */
  node: number;
  column: ColumnInfo;
  /** The logical attribute name as written (`parentcustomerid` for the column `_parentcustomerid_value`). */
  name: string;
  alias?: string;
  aggregate?: AggregateFn;
  distinct: boolean;
  groupby: boolean;
  dategrouping?: string;
}

export interface FetchCondition {
  node: number;
  column: ColumnInfo;
  name: string;
  operator: string;
  values: string[];
}

export interface FetchFilterNode {
  type: 'and' | 'or';
  conditions: FetchCondition[];
  filters: FetchFilterNode[];
  /** Link-entities inside this filter, by table index: each is one more test of the filter. */
  links?: number[];
}

export interface FetchOrder {
  node: number;
  column?: ColumnInfo;
  name?: string;
  alias?: string;
  descending: boolean;
}

export interface FetchTable {
  index: number;
  set: EntitySetInfo;
  /** What its columns are named by in rows: the link's alias, else its logical name. Empty for the entity. */
  alias: string;
  allAttributes: boolean;
  attributes: FetchAttribute[];
  filter?: FetchFilterNode;
  orders: FetchOrder[];
  /** For a link-entity: the table it hangs from, and the columns joined (`from` on this table, `to` on the parent). */
  parent?: number;
  from?: ColumnInfo;
  to?: ColumnInfo;
  /** `exists` and `in` keep the parent rows that have a match, each once, and add no columns. */
  linkType?: 'inner' | 'outer' | 'exists' | 'in' | FilterLinkType;
  /** A link-entity inside a filter (`any`, `not any`, `all`, `not all`): a test of the parent row, never joined. */
  inFilter?: boolean;
}

/** The link types of a link-entity inside a filter (fetchxml/filter-rows, "Filter on values in related records"). */
export type FilterLinkType = 'any' | 'not any' | 'all' | 'not all';
const FILTER_LINK_TYPES: ReadonlySet<string> = new Set<FilterLinkType>(['any', 'not any', 'all', 'not all']);

export interface FetchQueryModel {
  tables: FetchTable[];
  /** Rows per page: `count` within the table's largest page, or that page when no count is given. */
  pageSize: number;
  page?: number;
  /** The `paging-cookie` attribute (XML text of a `<cookie>`), when given. */
  pagingCookie?: string;
  top?: number;
  distinct: boolean;
  aggregate: boolean;
  aggregateLimit?: number;
  returnTotalRecordCount: boolean;
  useRawOrderBy: boolean;
  /** The document with the paging attributes left out: what results can be cached under. */
  canonical: string;
}

const FETCH_ATTRIBUTES = new Set([
  'version', 'count', 'page', 'paging-cookie', 'top', 'distinct', 'aggregate', 'aggregatelimit', 'returntotalrecordcount', 'no-lock', 'mapping',
  'output-format', 'utc-offset', 'latematerialize', 'useraworderby', 'options', 'datasource',
]);
const PAGING = new Set(['count', 'page', 'paging-cookie']);
const COMPARISONS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'neq']);
const TEXT_OPERATORS = new Set(['like', 'not-like', 'begins-with', 'not-begin-with', 'ends-with', 'not-end-with']);
const LIST_OPERATORS = new Set(['in', 'not-in', 'between', 'not-between']);
const DATE_GROUPINGS = new Set(['day', 'week', 'month', 'quarter', 'year', 'fiscal-period', 'fiscal-year']);

/** A 400 for a query the service would refuse (0x80040203, "invalid argument"). */
export function invalid(message: string): never {
  throw dvErrors.badRequest(message, '0x80040203');
}

/** The column a logical attribute name reads: the column itself, or a lookup's `_x_value`. */
export function columnNamed(set: EntitySetInfo, name: string): ColumnInfo | undefined {
  const column = set.columns.get(name);
  if (column && !column.name.startsWith('_')) return column;
  return set.columns.get(`_${name}_value`) ?? column;
}

/** The logical attribute name of a column (`_parentcustomerid_value` → `parentcustomerid`). */
export function attributeNameOf(column: ColumnInfo): string {
  const m = /^_(.+)_value$/.exec(column.name);
  return m && column.lookupNavigations ? (m[1] as string) : column.name;
}

function noAttribute(set: EntitySetInfo, name: string): never {
  throw dvErrors.badRequest(`'${set.logicalName}' entity doesn't contain attribute with Name = '${name}' and NameMapping = 'Logical'.`, '0x80041103');
}

function requireColumn(set: EntitySetInfo, name: string | undefined, element: string): ColumnInfo {
  if (name === undefined || name === '') invalid(`The '${element}' element requires a name.`);
  return columnNamed(set, name) ?? noAttribute(set, name);
}

function checkAttributes(el: XmlElement, allowed: readonly string[]): void {
  for (const name of el.attributes.keys()) {
    if (!allowed.includes(name)) invalid(`The '${name}' attribute is not declared on the '${el.name}' element.`);
  }
}

function positiveInt(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < 1) invalid(`The ${what} '${text}' is not a whole number of 1 or more.`);
  return n;
}

function bool(text: string | undefined): boolean {
  return text !== undefined && (text.toLowerCase() === 'true' || text === '1');
}

/** The text of a canonical form of the document (attributes sorted; the root's paging attributes left out). */
function canonical(el: XmlElement, root: boolean): string {
  const attrs = [...el.attributes].filter(([name]) => !(root && PAGING.has(name))).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `<${el.name}${attrs.map(([n, v]) => ` ${n}=${JSON.stringify(v)}`).join('')}>${JSON.stringify(el.text.trim())}${el.children.map((c) => canonical(c, false)).join('')}</${el.name}>`;
}

/**
 * Reads a FetchXML document for the entity set `set` (the URL's): the `<entity>` must be that set's table.
 *
 * @throws DataverseHttpError 400 for malformed XML, unknown elements, attributes or tables, settings
 *   that do not combine (`top` with paging or `returntotalrecordcount`), more than 15 link-entities.
 */
export function readFetchXml(text: string, set: EntitySetInfo, schema: ServiceSchema): FetchQueryModel {
  const root = parseXml(text);
  if (root.name !== 'fetch') invalid(`The root element of a FetchXML query must be 'fetch', not '${root.name}'.`);
  for (const name of root.attributes.keys()) if (!FETCH_ATTRIBUTES.has(name)) invalid(`The '${name}' attribute is not declared on the 'fetch' element.`);
  const a = root.attributes;
  const entities = root.children.filter((c) => c.name === 'entity');
  const other = root.children.find((c) => c.name !== 'entity');
  if (other) invalid(`The element '${other.name}' is not expected inside 'fetch'.`);
  if (entities.length !== 1) invalid('A FetchXML query must have exactly one entity element.');
  const entity = entities[0] as XmlElement;
  const entityName = entity.attributes.get('name');
  if (entityName !== set.logicalName) {
    invalid(`The entity '${entityName ?? ''}' of the FetchXML does not match the entity set '${set.name}' of the URL (entity '${set.logicalName}').`);
  }
  const model: FetchQueryModel = {
    tables: [],
    pageSize: MAX_FETCH_COUNT,
    distinct: bool(a.get('distinct')),
    aggregate: bool(a.get('aggregate')),
    returnTotalRecordCount: bool(a.get('returntotalrecordcount')),
    useRawOrderBy: bool(a.get('useraworderby')),
    canonical: canonical(root, true),
  };
  const count = positiveInt(a.get('count'), 'count');
  // The default and the largest page: 5000, and 500 on an elastic table (fetchxml/page-results). What
  // a larger count does is not documented: the emulator serves the largest page, as it does for
  // odata.maxpagesize.
  const maxCount = isElastic(set) ? MAX_ELASTIC_FETCH_COUNT : MAX_FETCH_COUNT;
  model.pageSize = Math.min(count ?? maxCount, maxCount);
  const page = positiveInt(a.get('page'), 'page');
  if (page !== undefined) model.page = page;
  const cookie = a.get('paging-cookie');
  if (cookie !== undefined && cookie.trim() !== '') model.pagingCookie = cookie;
  const top = positiveInt(a.get('top'), 'top');
  if (top !== undefined) {
    if (top > MAX_FETCH_COUNT) invalid(`The top attribute can't be greater than ${MAX_FETCH_COUNT}.`);
    if (count !== undefined || page !== undefined) invalid('The top attribute can\'t be specified with paging attribute page or count.');
    if (model.returnTotalRecordCount) invalid("The top attribute can't be used with returntotalrecordcount.");
    model.top = top;
  }
  const limit = positiveInt(a.get('aggregatelimit'), 'aggregatelimit');
  if (limit !== undefined) model.aggregateLimit = limit;

  const byAlias = new Map<string, number>();
  const readTable = (el: XmlElement, tableSet: EntitySetInfo, alias: string, link?: Pick<FetchTable, 'parent' | 'from' | 'to' | 'linkType'>): void => {
    const table: FetchTable = { index: model.tables.length, set: tableSet, alias, allAttributes: false, attributes: [], orders: [], ...link };
    model.tables.push(table);
    if (alias !== '') {
      if (byAlias.has(alias)) invalid(`The alias '${alias}' is used by two link-entity elements.`);
      byAlias.set(alias, table.index);
    }
    const filters: XmlElement[] = [];
    for (const child of el.children) {
      switch (child.name) {
        case 'all-attributes':
          table.allAttributes = true;
          break;
        case 'attribute': {
          checkAttributes(child, ['name', 'alias', 'aggregate', 'groupby', 'dategrouping', 'distinct', 'usertimezone', 'build', 'addedby']);
          const name = child.attributes.get('name') ?? '';
          const attr: FetchAttribute = { node: table.index, column: requireColumn(tableSet, name, 'attribute'), name, distinct: bool(child.attributes.get('distinct')), groupby: bool(child.attributes.get('groupby')) };
          const aliasName = child.attributes.get('alias');
          if (aliasName !== undefined) attr.alias = aliasName;
          const fn = child.attributes.get('aggregate');
          if (fn !== undefined) {
            if (!['count', 'countcolumn', 'sum', 'avg', 'min', 'max'].includes(fn)) invalid(`The aggregate '${fn}' is not one of count, countcolumn, sum, avg, min, max.`);
            attr.aggregate = fn as AggregateFn;
          }
          const grouping = child.attributes.get('dategrouping');
          if (grouping !== undefined) {
            if (!DATE_GROUPINGS.has(grouping)) invalid(`The dategrouping '${grouping}' is not one of ${[...DATE_GROUPINGS].join(', ')}.`);
            attr.dategrouping = grouping;
          }
          table.attributes.push(attr);
          break;
        }
        case 'filter':
          filters.push(child);
          break;
        case 'order': {
          checkAttributes(child, ['attribute', 'alias', 'descending', 'entityname']);
          table.orders.push(readOrder(child, table));
          break;
        }
        case 'link-entity':
          readLink(child, table.index);
          break;
        default:
          invalid(`The element '${child.name}' is not expected inside '${el.name}'.`);
      }
    }
    // Several filter elements are joined with and (the schema allows one; Dataverse reads them all).
    if (filters.length === 1) table.filter = readFilter(filters[0] as XmlElement, table.index);
    else if (filters.length > 1) table.filter = { type: 'and', conditions: [], filters: filters.map((f) => readFilter(f, table.index)) };
  };

  const pendingOrders: Array<{ order: FetchOrder; entityname: string }> = [];
  const readOrder = (el: XmlElement, table: FetchTable): FetchOrder => {
    const order: FetchOrder = { node: table.index, descending: bool(el.attributes.get('descending')) };
    const alias = el.attributes.get('alias');
    const attribute = el.attributes.get('attribute');
    const entityname = el.attributes.get('entityname');
    if (alias !== undefined) order.alias = alias;
    else if (attribute !== undefined && entityname !== undefined) {
      order.name = attribute;
      pendingOrders.push({ order, entityname });
    } else if (attribute !== undefined) {
      order.name = attribute;
      order.column = requireColumn(table.set, attribute, 'order');
    } else invalid("An order element requires an attribute or an alias.");
    return order;
  };

  const pendingConditions: Array<{ condition: FetchCondition; entityname: string }> = [];
  const readFilter = (el: XmlElement, node: number): FetchFilterNode => {
    checkAttributes(el, ['type', 'isquickfindfields', 'overridequickfindrecordlimitenabled', 'overridequickfindrecordlimitdisabled', 'hint']);
    const type = el.attributes.get('type') ?? 'and';
    if (type !== 'and' && type !== 'or') invalid(`The filter type '${type}' is not and or or.`);
    const filter: FetchFilterNode = { type, conditions: [], filters: [] };
    for (const child of el.children) {
      if (child.name === 'filter') filter.filters.push(readFilter(child, node));
      else if (child.name === 'condition') {
        checkAttributes(child, ['attribute', 'operator', 'value', 'entityname', 'alias', 'uiname', 'uitype', 'uihidden']);
        const name = child.attributes.get('attribute') ?? '';
        const operator = child.attributes.get('operator') ?? '';
        const values = child.children.filter((c) => c.name === 'value').map((c) => c.text);
        const value = child.attributes.get('value');
        if (value !== undefined) values.unshift(value);
        const condition: FetchCondition = { node, column: undefined as unknown as ColumnInfo, name, operator, values };
        checkOperator(operator, values);
        const entityname = child.attributes.get('entityname');
        if (entityname !== undefined) pendingConditions.push({ condition, entityname });
        else condition.column = requireColumn((model.tables[node] as FetchTable).set, name, 'condition');
        filter.conditions.push(condition);
      } else if (child.name === 'link-entity') (filter.links ??= []).push(readLink(child, node, true));
      else invalid(`The element '${child.name}' is not expected inside 'filter'.`);
    }
    return filter;
  };

  let links = 0;
  const readLink = (el: XmlElement, parent: number, inFilter = false): number => {
    links++;
    if (links > MAX_LINK_ENTITIES) throw dvErrors.badRequest('Number of link entities in query exceeded maximum limit.', '0x8004430D');
    checkAttributes(el, ['name', 'from', 'to', 'alias', 'link-type', 'intersect', 'visible', 'enableprefiltering', 'prefilterparametername']);
    const name = el.attributes.get('name') ?? '';
    const linked = [...schema.sets.values()].find((s) => s.logicalName === name);
    if (!linked) throw dvErrors.badRequest(`The entity with a name = '${name}' with namemapping = 'Logical' was not found in the MetadataCache.`, '0x80041102');
    const type = el.attributes.get('link-type') ?? 'inner';
    const filterLink = FILTER_LINK_TYPES.has(type);
    if (type !== 'inner' && type !== 'outer' && type !== 'exists' && type !== 'in' && !filterLink) {
      invalid(`The link-type '${type}' is not supported by the emulator (it runs inner, outer, exists, in, any, not any, all and not all links).`);
    }
    if (inFilter && !filterLink) invalid(`A link-entity inside a filter takes link-type any, not any, all or not all, not '${type}'.`);
    if (!inFilter && filterLink) invalid(`The link-type '${type}' is for a link-entity inside a filter element.`);
    // exists, in and the filter link types return no columns of the linked table.
    const noColumns = type === 'exists' || type === 'in' || filterLink;
    if (noColumns && el.children.some((c) => c.name === 'link-entity')) {
      invalid(`A link-entity inside a link-type '${type}' link-entity is not supported by the emulator (put it inside the link's filter as an any/all link).`);
    }
    if (bool(el.attributes.get('intersect')) && !el.attributes.has('from')) invalid('An intersect link-entity needs from and to.');
    const parentTable = model.tables[parent] as FetchTable;
    // "Elastic tables support only link-type='outer'" (use-elastic-tables). The documented statement is
    // about the elastic table; the emulator refuses an inner link on either side of it.
    if (type !== 'outer' && (isElastic(parentTable.set) || isElastic(linked))) throw dvErrors.badRequest('Link entities are not supported', '0x80048d0b');
    const from = requireColumn(linked, el.attributes.get('from') ?? linked.key, 'link-entity from');
    const to = requireColumn(parentTable.set, el.attributes.get('to') ?? parentTable.set.key, 'link-entity to');
    const index = model.tables.length;
    readTable(el, linked, el.attributes.get('alias') ?? name, { parent, from, to, linkType: type as FetchTable['linkType'] });
    const table = model.tables[index] as FetchTable;
    if (noColumns) {
      // "Neither of these types return the column values of the link entity rows" (join-tables.md);
      // the filter link types filter "without returning those values" (filter-rows.md).
      table.attributes = [];
      table.allAttributes = false;
      table.orders = [];
    }
    if (filterLink) table.inFilter = true;
    return index;
  };

  readTable(entity, set, '');
  // `entityname` names a link-entity by its alias (or its name when it has none), wherever it sits.
  const tableNamed = (entityname: string): FetchTable => {
    const index = byAlias.get(entityname);
    if (index === undefined) invalid(`No link-entity has the alias or name '${entityname}'.`);
    return model.tables[index] as FetchTable;
  };
  for (const { condition, entityname } of pendingConditions) {
    const table = tableNamed(entityname);
    condition.node = table.index;
    condition.column = requireColumn(table.set, condition.name, 'condition');
  }
  for (const { order, entityname } of pendingOrders) {
    const table = tableNamed(entityname);
    order.node = table.index;
    order.column = requireColumn(table.set, order.name, 'order');
  }
  checkAggregates(model);
  return model;
}

/** Whether an operator is one the emulator evaluates, with the number of values it takes. */
function checkOperator(operator: string, values: readonly string[]): void {
  if (COMPARISONS.has(operator) || TEXT_OPERATORS.has(operator)) {
    if (values.length !== 1) invalid(`The condition operator '${operator}' takes one value.`);
    return;
  }
  if (LIST_OPERATORS.has(operator)) {
    if (values.length === 0) invalid(`The condition operator '${operator}' needs values.`);
    if (operator.endsWith('between') && values.length !== 2) invalid(`The condition operator '${operator}' takes two values.`);
    return;
  }
  if (operator === 'null' || operator === 'not-null') return;
  const arity = arityOf(operator);
  if (arity === undefined) invalid(`The condition operator '${operator}' is not valid or not supported by the emulator.`);
  const wanted = arity === 'none' ? 0 : arity === 'periodAndYear' ? 2 : arity === 'list' ? -1 : 1;
  if (wanted >= 0 && values.length !== wanted) invalid(`The condition operator '${operator}' takes ${wanted === 0 ? 'no value' : wanted === 1 ? 'one value' : 'two values'}.`);
  if (wanted < 0 && values.length === 0) invalid(`The condition operator '${operator}' needs values.`);
}

/** Aggregate queries: every attribute aggregates or groups, and has an alias (fetchxml/aggregate-data). */
function checkAggregates(model: FetchQueryModel): void {
  const attributes = model.tables.flatMap((t) => t.attributes);
  if (!model.aggregate) {
    if (attributes.some((a) => a.aggregate !== undefined || a.groupby)) invalid("An attribute with aggregate or groupby needs aggregate='true' on the fetch element.");
    return;
  }
  if (model.tables.some((t) => t.allAttributes)) invalid('all-attributes cannot be used in an aggregate query.');
  for (const a of attributes) {
    if (a.aggregate === undefined && !a.groupby) invalid(`The attribute '${a.name}' must have an aggregate or groupby in an aggregate query.`);
    if (a.alias === undefined) invalid(`The attribute '${a.name}' of an aggregate query must have an alias.`);
    if (a.dategrouping !== undefined && !a.groupby) invalid(`The attribute '${a.name}' has a dategrouping without groupby='true'.`);
  }
  if (!attributes.some((a) => a.aggregate !== undefined || a.groupby)) invalid('An aggregate query must have an aggregate or groupby attribute.');
}
