/** The fleet-wide limiter: its contract with the pipeline and the Redis implementation. */
export { isFleetThrottle, type FleetAcquireRequest, type FleetOutcome, type FleetThrottle, type FleetTicket } from './types';
export { redisThrottle, type RedisThrottle, type RedisThrottleStats } from './redisThrottle';
export { REDIS_THROTTLE_DEFAULTS, type FleetBudget, type RedisScriptingLike, type RedisThrottleOptions } from './options';
