// Names the components agree on beyond the .proto files.

/**
 * Lease context key of a lease held by a live session (e.g. `jmp shell`): its value is a grace
 * period in seconds; the controller releases a lease whose client is not heard from for that long.
 */
export const SESSION_GRACE_KEY = "jumpstarter.dev/session-grace";
