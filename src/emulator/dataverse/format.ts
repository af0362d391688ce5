/**
 * `OData.Community.Display.V1.FormattedValue` annotations as Dataverse renders them for an en-US user
 * (dp/webapi/query/select-columns.md#formatted-values): option-set labels, currency, dates, Yes/No.
 * CSDL carries no option-set labels. Columns with embedded real option-set metadata
 * (schema/default-optionsets.ts: account, opportunity) use its labels; for the other tables the
 * standard labels below stand in, and other choice values are formatted as their number.
 */
import type { ColumnInfo } from './schema';

const STATE_LABELS: Record<string, string[]> = {
  default: ['Active', 'Inactive'],
  opportunity: ['Open', 'Won', 'Lost'],
  lead: ['Open', 'Qualified', 'Disqualified'],
  incident: ['Active', 'Resolved', 'Cancelled'],
  task: ['Open', 'Completed', 'Canceled'],
  activitypointer: ['Open', 'Completed', 'Canceled', 'Scheduled'],
};

const STATUS_LABELS: Record<string, Record<number, string>> = {
  default: { 1: 'Active', 2: 'Inactive' },
  opportunity: { 1: 'In Progress', 2: 'On Hold', 3: 'Won', 4: 'Canceled', 5: 'Out-Sold' },
  lead: { 1: 'New', 2: 'Contacted', 3: 'Qualified', 4: 'Lost', 5: 'Cannot Contact', 6: 'No Longer Interested', 7: 'Canceled' },
  incident: { 1: 'In Progress', 2: 'On Hold', 3: 'Waiting for Details', 4: 'Researching', 5: 'Problem Solved', 6: 'Cancelled' },
  task: { 2: 'Not Started', 3: 'In Progress', 4: 'Waiting on someone else', 5: 'Completed', 6: 'Canceled', 7: 'Deferred' },
};

const CHOICE_LABELS: Record<string, Record<number, string>> = {
  industrycode: {
    1: 'Accounting',
    2: 'Agriculture and Non-petrol Natural Resource Extraction',
    3: 'Broadcasting Printing and Publishing',
    4: 'Brokers',
    5: 'Building Supply Retail',
    6: 'Business Services',
    7: 'Consulting',
    8: 'Consumer Services',
    9: 'Design, Direction and Creative Management',
    10: 'Distributors, Dispatchers and Processors',
  },
  prioritycode: { 0: 'Low', 1: 'Normal', 2: 'High' },
  preferredcontactmethodcode: { 1: 'Any', 2: 'Email', 3: 'Phone', 4: 'Fax', 5: 'Mail' },
  gendercode: { 1: 'Male', 2: 'Female' },
};

const currency = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const integer = new Intl.NumberFormat('en-US');

function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const h = d.getUTCHours();
  const hour12 = h % 12 === 0 ? 12 : h % 12;
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${hour12}:${mm} ${h < 12 ? 'AM' : 'PM'}`;
}

/** The formatted value of a column, or undefined when Dataverse sends none (strings, GUIDs, nulls). `labels`: the column's option set, when known. */
export function formattedValue(logicalName: string, column: ColumnInfo, value: unknown, labels?: ReadonlyMap<number, string>): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (labels) {
    // A Yes/No column's labels are its option set's FalseOption (0) and TrueOption (1).
    const key = typeof value === 'boolean' ? Number(value) : value;
    const label = typeof key === 'number' ? labels.get(key) : undefined;
    if (label !== undefined) return label;
    if (typeof key === 'number' && column.edmType === 'Edm.Int32') return String(key);
  }
  if (column.edmType === 'Edm.Boolean') return value ? 'Yes' : 'No';
  if (column.edmType === 'Edm.DateTimeOffset') return formatDate(String(value));
  if (column.edmType === 'Edm.Date') return formatDate(`${String(value)}T00:00:00Z`).split(' ')[0];
  if (column.money && typeof value === 'number') return currency.format(value);
  if (column.edmType === 'Edm.Int32' && typeof value === 'number') {
    if (column.name === 'statecode') return (STATE_LABELS[logicalName] ?? STATE_LABELS['default'])?.[value] ?? String(value);
    if (column.name === 'statuscode') return (STATUS_LABELS[logicalName] ?? STATUS_LABELS['default'])?.[value] ?? String(value);
    const labels = CHOICE_LABELS[column.name];
    if (labels) return labels[value] ?? String(value);
    if (column.name.endsWith('code')) return String(value);
    return integer.format(value);
  }
  if ((column.edmType === 'Edm.Decimal' || column.edmType === 'Edm.Double' || column.edmType === 'Edm.Int64') && typeof value === 'number') {
    return integer.format(value);
  }
  return undefined;
}
