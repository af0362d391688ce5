/**
 * The Web API's handlers, one module per concern. For a given kind of target and method, the router
 * asks them in this order and the first answer wins (a route may return undefined to pass), so a
 * capability added later (FetchXML, `$apply`, bulk messages, change tracking, file columns) is a new
 * module here and one line in this list, ahead of the handler whose requests it takes over.
 */
import type { Handler } from '../context';
import { applyHandler } from './apply';
import { batchHandler } from './batch';
import { bulkHandler } from './bulk';
import { changes } from './changes';
import { elastic } from './elastic';
import { files } from './files';
import { collections } from './collections';
import { fetchXmlHandler } from './fetchxml';
import { serviceMetadata } from './metadata';
import { operations } from './operations';
import { records } from './records';
import { relationships } from './relationships';

/** Every handler of the emulator's Web API, in precedence order. */
export const HANDLERS: readonly Handler[] = [serviceMetadata, batchHandler, changes, bulkHandler, elastic, files, records, fetchXmlHandler, applyHandler, collections, relationships, operations];
