/**
 * FetchXML through the Web API: a typed builder, the paging cookie, and the root-element rewriting the
 * paging walk needs (https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/overview).
 */
export {
  fetchXml,
  FetchQuery,
  type AggregateFunction,
  type AggregateSpec,
  type AttributeOf,
  type AttributeValue,
  type DateGrouping,
  type FetchCondition,
  type FetchFilter,
  type FetchOperators,
  type FetchRowOf,
  type FetchValue,
  type FetchXmlFactory,
  type FetchXmlSource,
  type GroupSpec,
  type LinkOptions,
  type LogicalNameOf,
  type ReadOfLogical,
} from './builder';
export { MAX_PAGING_COOKIE_CHARS, MORE_RECORDS_ANNOTATION, PAGING_COOKIE_ANNOTATION, readPaging, type FetchXmlPaging } from './cookie';
export { escapeXml, rootStartTag, unescapeXml, withRootAttributes, type StartTag } from './xml';
