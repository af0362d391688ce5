/**
 * Links between records through navigation properties
 * (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api).
 */
import { checkNavigation, checkTarget, entityPath } from '../arguments';
import type { ClientContext } from '../context';
import type { AssociateOptions, EntityKey, OperationOptions } from '../types';

/** Associate and disassociate answer 204 (200 is read the same way); a redirect or any other status is an error. */
const LINKED: readonly number[] = [200, 204];

/** `POST <entitySet>(<key>)/<nav>/$ref`, or `PUT` for a single-valued one. See `DynamicsClient.associate`. */
export async function associate(
  ctx: ClientContext,
  entitySet: string,
  key: EntityKey<object>,
  navigationProperty: string,
  target: { entitySet: string; key: EntityKey },
  options?: AssociateOptions,
): Promise<void> {
  const source = entityPath(entitySet, key);
  checkNavigation(navigationProperty);
  checkTarget(target);
  const targetPath = entityPath(target.entitySet, target.key);
  await ctx.call({
    method: options?.singleValued ? 'PUT' : 'POST',
    url: `${ctx.apiRoot}${source}/${navigationProperty}/$ref`,
    body: { '@odata.id': ctx.apiRoot + targetPath },
    options,
    expect: LINKED,
  });
}

/** `DELETE <entitySet>(<key>)/<nav>/$ref`, with `?$id=<target>` for a collection-valued one. See `DynamicsClient.disassociate`. */
export async function disassociate(
  ctx: ClientContext,
  entitySet: string,
  key: EntityKey<object>,
  navigationProperty: string,
  target?: { entitySet: string; key: EntityKey },
  options?: OperationOptions,
): Promise<void> {
  const source = entityPath(entitySet, key);
  checkNavigation(navigationProperty);
  let url: string;
  if (target === undefined) {
    url = `${ctx.apiRoot}${source}/${navigationProperty}/$ref`;
  } else {
    checkTarget(target);
    // The by-key form needs the target's key segment; the $id form works for any key.
    const targetPath = entityPath(target.entitySet, target.key);
    url = `${ctx.apiRoot}${source}/${navigationProperty}/$ref?$id=${encodeURIComponent(ctx.apiRoot + targetPath)}`;
  }
  await ctx.call({ method: 'DELETE', url, options, expect: LINKED });
}
