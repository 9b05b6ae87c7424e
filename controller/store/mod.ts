// The controller's state store: the records, the `Store` interface and its SQLite backend.

export * from "./types.ts";
export * from "./sqlite.ts";
