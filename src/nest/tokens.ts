/**
 * The injection token under which {@link DynamicsModule.forRoot} and
 * {@link DynamicsModule.forRootAsync} provide the {@link DynamicsServiceOptions}. Plain data with no
 * Nest import, so that the root entry point can export it without loading Nest.
 */
export const DYNAMICS_MODULE_OPTIONS: unique symbol = Symbol('dynamics-odata:DynamicsModuleOptions');
