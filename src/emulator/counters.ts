import type { EmulatorCounters } from './types';

/** Fresh, zeroed counters. One object per emulator, shared with the Dataverse service by reference. */
export function createCounters(): EmulatorCounters {
  return {
    tokenRequests: {},
    tokenRequestsTotal: 0,
    apiRequests: {},
    apiRequestsTotal: 0,
    throttled: 0,
    discoveryRequests: 0,
    faultedRequests: 0,
  };
}

/** Zeroes counters in place: the Dataverse service holds a reference to the same object. */
export function resetCounters(counters: EmulatorCounters): void {
  Object.assign(counters, createCounters());
}
