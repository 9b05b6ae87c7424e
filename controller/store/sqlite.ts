// The embedded store: one SQLite file (node:sqlite) that several controller processes may
// share. Nested data lives in JSON text columns; every write that reads before it writes runs
// in a `BEGIN IMMEDIATE` transaction, so the check and the write see the same database even
// when another process holds the file too.

import { randomUUID } from "node:crypto";
import { closeSync, openSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  type AccessPolicyRecord,
  AlreadyExistsError,
  type ClientRecord,
  type Condition,
  type ExporterRecord,
  type LeaseRecord,
  type LeaseStatus,
  NotFoundError,
  type Store,
} from "./types.ts";

/** The schema version this code writes (kept in `PRAGMA user_version`). */
export const SCHEMA_VERSION = 1;

/** `MIGRATIONS[v]` brings a database from version v to v + 1. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE IF NOT EXISTS clients (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    labels TEXT NOT NULL,
    username TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
  );
  CREATE TABLE IF NOT EXISTS exporters (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    labels TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    devices TEXT,
    last_seen INTEGER,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL,
    version TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
  );
  -- AUTOINCREMENT: a seq is never reused, so the queue order survives any deletion.
  CREATE TABLE IF NOT EXISTS leases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    client TEXT NOT NULL,
    selector TEXT NOT NULL,
    exporter_name TEXT,
    duration_ms INTEGER NOT NULL,
    begin_time INTEGER,
    end_time INTEGER,
    tags TEXT NOT NULL,
    context TEXT NOT NULL,
    allow_disabled INTEGER NOT NULL,
    release INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    status_exporter TEXT,
    status_begin_time INTEGER,
    status_end_time INTEGER,
    ended INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    spot_access INTEGER NOT NULL,
    conditions TEXT NOT NULL,
    -- Derived, never written: it cannot disagree with the status columns it comes from.
    active_exporter TEXT GENERATED ALWAYS AS (
      CASE WHEN ended = 0 THEN status_exporter END
    ) VIRTUAL,
    UNIQUE (namespace, name)
  );
  -- The last line of defence for "one active lease per exporter": it holds even against a
  -- writer that skips grantLease's checks (another version of this code, a manual edit).
  CREATE UNIQUE INDEX IF NOT EXISTS leases_one_active_per_exporter
    ON leases (namespace, active_exporter) WHERE active_exporter IS NOT NULL;
  CREATE INDEX IF NOT EXISTS leases_queue ON leases (namespace, seq);
  CREATE TABLE IF NOT EXISTS access_policies (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    exporter_selector TEXT NOT NULL,
    policies TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
  );
  `,
];

/** A failure of the database itself (cannot open, corrupt, too new), naming its file. */
export class SqliteStoreError extends Error {
  /** Creates the error; `cause` becomes the one-line reason after the file name. */
  constructor(readonly path: string, cause: unknown, action = "state database") {
    super(`${action} ${path}: ${oneLine(cause)}`, { cause });
    this.name = "SqliteStoreError";
  }
}

/** Opens (and creates or migrates) the store kept in the file `path`; `:memory:` for tests. */
export function openSqliteStore(path: string): SqliteStore {
  return SqliteStore.open(path);
}

type Value = string | number | null;
type Row = Record<string, Value>;
type Table = "clients" | "exporters" | "leases" | "access_policies";

const KEY = "namespace = :namespace AND name = :name";
const NEW_LEASE_STATUS: LeaseStatus = {
  ended: false,
  priority: 0,
  spotAccess: false,
  conditions: [],
};
const LEASE_SPEC_FIELDS = ["durationMs", "beginTime", "endTime", "release", "client"] as const;
const EXPORTER_FIELDS = [
  "labels",
  "enabled",
  "devices",
  "lastSeen",
  "status",
  "statusMessage",
  "version",
] as const;

/** The `Store` on one SQLite database file. */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
  }

  /** Opens the file, creating or migrating its schema; refuses a newer or unreadable one. */
  static open(path: string): SqliteStore {
    const db = connect(path);
    try {
      migrate(db, path);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteStore(db, path);
  }

  createClient(record: Omit<ClientRecord, "uid" | "createdAt">): Promise<ClientRecord> {
    return this.#settle(() =>
      this.#transaction(() => {
        const { namespace, name, labels, username } = record;
        const client = { namespace, name, labels, username, uid: randomUUID(), createdAt: now() };
        this.#insert("clients", "client", clientToRow(client));
        return this.#client(namespace, name)!;
      })
    );
  }

  getClient(namespace: string, name: string): Promise<ClientRecord | undefined> {
    return this.#settle(() => this.#client(namespace, name));
  }

  listClients(namespace: string): Promise<ClientRecord[]> {
    return this.#settle(() => this.#list("clients", namespace).map(clientFromRow));
  }

  deleteClient(namespace: string, name: string): Promise<void> {
    return this.#settle(() =>
      this.#transaction(() => {
        const leases = this.#leases(namespace, { client: name });
        this.#release(leases, `client ${namespace}/${name} was deleted`);
        // Throwing here for an unknown client rolls the lease endings back too.
        this.#delete("clients", "client", namespace, name);
      })
    );
  }

  createExporter(
    record: Pick<ExporterRecord, "namespace" | "name" | "labels"> & { enabled?: boolean },
  ): Promise<ExporterRecord> {
    return this.#settle(() =>
      this.#transaction(() => {
        this.#insert("exporters", "exporter", exporterToRow(newExporter(record)));
        return this.#exporter(record.namespace, record.name)!;
      })
    );
  }

  getExporter(namespace: string, name: string): Promise<ExporterRecord | undefined> {
    return this.#settle(() => this.#exporter(namespace, name));
  }

  listExporters(namespace: string): Promise<ExporterRecord[]> {
    return this.#settle(() => this.#list("exporters", namespace).map(exporterFromRow));
  }

  updateExporter(
    namespace: string,
    name: string,
    patch: Partial<Pick<ExporterRecord, (typeof EXPORTER_FIELDS)[number]>>,
  ): Promise<ExporterRecord> {
    return this.#settle(() =>
      this.#transaction(() => {
        const exporter = this.#exporter(namespace, name);
        if (!exporter) throw new NotFoundError("exporter", namespace, name);
        const updated = { ...exporter, ...given(patch, EXPORTER_FIELDS) };
        this.#update("exporters", exporterToRow(updated));
        return updated;
      })
    );
  }

  deleteExporter(namespace: string, name: string): Promise<void> {
    return this.#settle(() =>
      this.#transaction(() => {
        const active = this.#activeLease(namespace, name);
        this.#release(active ? [active] : [], `exporter ${namespace}/${name} was deleted`);
        this.#delete("exporters", "exporter", namespace, name);
      })
    );
  }

  createLease(record: Omit<LeaseRecord, "seq" | "createdAt" | "status">): Promise<LeaseRecord> {
    return this.#settle(() =>
      this.#transaction(() => {
        const lease = { ...record, seq: 0, createdAt: now(), status: NEW_LEASE_STATUS };
        this.#insert("leases", "lease", leaseToRow(lease));
        return this.#lease(record.namespace, record.name)!;
      })
    );
  }

  getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    return this.#settle(() => this.#lease(namespace, name));
  }

  listLeases(
    namespace: string,
    options: { includeEnded?: boolean; client?: string } = {},
  ): Promise<LeaseRecord[]> {
    return this.#settle(() => this.#leases(namespace, options));
  }

  activeLeaseOf(namespace: string, exporter: string): Promise<LeaseRecord | undefined> {
    return this.#settle(() => this.#activeLease(namespace, exporter));
  }

  updateLeaseSpec(
    namespace: string,
    name: string,
    patch: Partial<Pick<LeaseRecord, (typeof LEASE_SPEC_FIELDS)[number]>>,
  ): Promise<LeaseRecord> {
    return this.#settle(() =>
      this.#transaction(() => {
        const lease = {
          ...this.#existingLease(namespace, name),
          ...given(patch, LEASE_SPEC_FIELDS),
        };
        // A granted lease's end follows its spec, so a client can extend or shorten it.
        if (isActive(lease)) {
          lease.status = { ...lease.status, endTime: plannedEnd(lease, lease.status.beginTime!) };
        }
        this.#save(lease);
        return lease;
      })
    );
  }

  setLeaseConditions(namespace: string, name: string, conditions: Condition[]): Promise<void> {
    return this.#settle(() =>
      this.#transaction(() => {
        const lease = this.#existingLease(namespace, name);
        // A late "still pending" verdict must not overwrite what a grant or an end wrote.
        if (isPending(lease)) this.#save({ ...lease, status: { ...lease.status, conditions } });
      })
    );
  }

  grantLease(
    namespace: string,
    name: string,
    exporter: string,
    grant: { now: number; priority: number; spotAccess: boolean; conditions: Condition[] },
  ): Promise<boolean> {
    return this.#settle(() =>
      this.#transaction(() => {
        const lease = this.#lease(namespace, name);
        if (!lease || !isPending(lease)) return false;
        // A deleted exporter would otherwise hold the lease until it expires.
        if (!this.#exporter(namespace, exporter)) return false;
        if (this.#activeLease(namespace, exporter)) return false;
        const { now, priority, spotAccess, conditions } = grant;
        const endTime = plannedEnd(lease, now);
        const status = { exporter, beginTime: now, endTime, ended: false, priority, spotAccess };
        this.#save({ ...lease, status: { ...status, conditions } });
        return true;
      })
    );
  }

  endLease(
    namespace: string,
    name: string,
    end: { now: number; conditions: Condition[] },
  ): Promise<boolean> {
    return this.#settle(() =>
      this.#transaction(() => {
        const lease = this.#existingLease(namespace, name);
        if (lease.status.ended) return false;
        this.#save(ended(lease, end.now, end.conditions));
        return true;
      })
    );
  }

  putAccessPolicy(record: AccessPolicyRecord): Promise<void> {
    return this.#settle(() =>
      this.#transaction(() => {
        this.#execute(`DELETE FROM access_policies WHERE ${KEY}`, keyOf(record));
        this.#insert("access_policies", "access policy", policyToRow(record));
      })
    );
  }

  listAccessPolicies(namespace: string): Promise<AccessPolicyRecord[]> {
    return this.#settle(() => this.#list("access_policies", namespace).map(policyFromRow));
  }

  deleteAccessPolicy(namespace: string, name: string): Promise<void> {
    return this.#settle(() => this.#delete("access_policies", "access policy", namespace, name));
  }

  listNamespaces(): Promise<string[]> {
    return this.#settle(() =>
      this.#all(
        "SELECT namespace FROM clients UNION SELECT namespace FROM exporters " +
          "UNION SELECT namespace FROM leases ORDER BY namespace",
        {},
      ).map((row) => String(row.namespace))
    );
  }

  close(): Promise<void> {
    return this.#settle(() => {
      if (this.#db.isOpen) this.#db.close();
    });
  }

  /**
   * Runs a synchronous body as a promise, so a throw becomes a rejection; SQLite's own errors
   * (a corrupt page, a constraint) get the file's name, the store's errors pass unchanged.
   */
  #settle<T>(body: () => T): Promise<T> {
    return new Promise<T>((resolve) => resolve(body())).catch((error) => {
      if (!isSqliteError(error)) throw error;
      if (oneLine(error).includes(READ_ONLY)) {
        throw new SqliteStoreError(
          this.#path,
          "the file system is read-only: changes are refused, what is stored can be read",
        );
      }
      throw new SqliteStoreError(this.#path, error);
    });
  }

  #transaction<T>(body: () => T): T {
    return transaction(this.#db, body);
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #execute(sql: string, params: Row): number {
    return Number(this.#statement(sql).run(params).changes);
  }

  #one(sql: string, params: Row): Row | undefined {
    return this.#statement(sql).get(params) as Row | undefined;
  }

  #all(sql: string, params: Row): Row[] {
    return this.#statement(sql).all(params) as Row[];
  }

  #insert(table: Table, kind: string, row: Row): void {
    const columns = Object.keys(row);
    const values = columns.map((column) => `:${column}`);
    const sql = `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${values.join(", ")}) ` +
      "ON CONFLICT (namespace, name) DO NOTHING";
    if (this.#execute(sql, row) === 0) {
      throw new AlreadyExistsError(kind, String(row.namespace), String(row.name));
    }
  }

  #update(table: Table, row: Row): void {
    const columns = Object.keys(row).filter((column) =>
      column !== "namespace" && column !== "name"
    );
    const sql = `UPDATE ${table} SET ${columns.map((c) => `${c} = :${c}`).join(", ")} WHERE ${KEY}`;
    this.#execute(sql, row);
  }

  #delete(table: Table, kind: string, namespace: string, name: string): void {
    if (this.#execute(`DELETE FROM ${table} WHERE ${KEY}`, { namespace, name }) === 0) {
      throw new NotFoundError(kind, namespace, name);
    }
  }

  #find(table: Table, namespace: string, name: string): Row | undefined {
    return this.#one(`SELECT * FROM ${table} WHERE ${KEY}`, { namespace, name });
  }

  #list(table: Table, namespace: string): Row[] {
    return this.#all(`SELECT * FROM ${table} WHERE namespace = :namespace ORDER BY name`, {
      namespace,
    });
  }

  #client(namespace: string, name: string): ClientRecord | undefined {
    const row = this.#find("clients", namespace, name);
    return row && clientFromRow(row);
  }

  #exporter(namespace: string, name: string): ExporterRecord | undefined {
    const row = this.#find("exporters", namespace, name);
    return row && exporterFromRow(row);
  }

  #lease(namespace: string, name: string): LeaseRecord | undefined {
    const row = this.#find("leases", namespace, name);
    return row && leaseFromRow(row);
  }

  #existingLease(namespace: string, name: string): LeaseRecord {
    const lease = this.#lease(namespace, name);
    if (!lease) throw new NotFoundError("lease", namespace, name);
    return lease;
  }

  #leases(namespace: string, options: { includeEnded?: boolean; client?: string }): LeaseRecord[] {
    const sql = "SELECT * FROM leases WHERE namespace = :namespace " +
      "AND (:include_ended OR ended = 0) AND (:client IS NULL OR client = :client) ORDER BY seq";
    const includeEnded = flag(options.includeEnded ?? false);
    const params = { namespace, include_ended: includeEnded, client: options.client ?? null };
    return this.#all(sql, params).map(leaseFromRow);
  }

  #activeLease(namespace: string, exporter: string): LeaseRecord | undefined {
    const sql = "SELECT * FROM leases WHERE namespace = :namespace AND active_exporter = :exporter";
    const row = this.#one(sql, { namespace, exporter });
    return row && leaseFromRow(row);
  }

  #save(lease: LeaseRecord): void {
    this.#update("leases", leaseToRow(lease));
  }

  /** Ends `leases` because what they depend on went away (condition Ready False Released). */
  #release(leases: LeaseRecord[], message: string): void {
    const at = now();
    for (const lease of leases) {
      const released: Condition = {
        type: "Ready",
        status: "False",
        reason: "Released",
        message,
        lastTransitionTime: at,
      };
      this.#save(ended(lease, at, withCondition(lease.status.conditions, released)));
    }
  }
}

/** Opens the file and sets how it is shared; any failure names the file. */
function connect(path: string): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    // Set first, so that the pragmas below already wait for another process's lock.
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    // FULL: a grant the controller has answered must survive a power cut, or the exporter
    // could be granted again after a restart while its first client still uses it.
    db.exec("PRAGMA synchronous = FULL");
    userVersion(db); // reads the header: a file that is not a database fails here
    return db;
  } catch (error) {
    db?.close();
    if (onReadOnlyFileSystem(path)) return connectReadOnly(path);
    throw new SqliteStoreError(path, error, "cannot open state database");
  }
}

/** The reason given for every write refused by a store on a read-only file system. */
const READ_ONLY = "attempt to write a readonly database";

// A data folder on a read-only file system (a volume mounted read-only, a disk the kernel
// remounted after errors) still serves what it holds; writes are refused with READ_ONLY.
function onReadOnlyFileSystem(path: string): boolean {
  // Trying is the one test that holds for root too (access() checks permission bits).
  const probe = join(dirname(path), `.write-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, "wx"));
    unlinkSync(probe);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === "EROFS";
  }
}

// `immutable`: nobody can change the file, so SQLite needs no lock files beside it (a WAL
// database cannot be opened read-only without them otherwise).
function connectReadOnly(path: string): DatabaseSync {
  const url = pathToFileURL(path);
  url.search = "immutable=1";
  try {
    const db = new DatabaseSync(url, { readOnly: true });
    userVersion(db);
    return db;
  } catch (error) {
    throw new SqliteStoreError(path, error, "cannot open state database (read-only file system)");
  }
}

/** Brings the schema to SCHEMA_VERSION; refuses a database written by newer code. */
function migrate(db: DatabaseSync, path: string): void {
  const refuseNewer = (version: number) => {
    if (version > SCHEMA_VERSION) {
      const reason = `schema version ${version} is newer than this controller supports ` +
        `(${SCHEMA_VERSION}); run a newer controller`;
      throw new SqliteStoreError(path, reason, "cannot open state database");
    }
  };
  const found = userVersion(db);
  refuseNewer(found);
  if (found === SCHEMA_VERSION) return;
  transaction(db, () => {
    // Read again under the lock: another process may have migrated in the meantime.
    const version = userVersion(db);
    refuseNewer(version);
    for (const step of MIGRATIONS.slice(version)) db.exec(step);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });
}

function userVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
}

/** Runs `body` in one write transaction; a nested call joins the open one. */
function transaction<T>(db: DatabaseSync, body: () => T): T {
  if (db.isTransaction) return body();
  // IMMEDIATE takes the write lock before the first read, so no one writes between check
  // and write (a deferred transaction would only notice at COMMIT, or not at all).
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = body();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

function clientToRow(client: ClientRecord): Row {
  return {
    ...keyOf(client),
    uid: client.uid,
    labels: JSON.stringify(client.labels),
    username: client.username ?? null,
    created_at: client.createdAt,
  };
}

function clientFromRow(row: Row): ClientRecord {
  return {
    ...keyOf(row),
    uid: String(row.uid),
    labels: parse(row, "labels"),
    ...optional("username", row.username as string | null),
    createdAt: Number(row.created_at),
  };
}

/** A just-created exporter: enabled unless said otherwise, never registered nor seen. */
function newExporter(
  record: Pick<ExporterRecord, "namespace" | "name" | "labels"> & { enabled?: boolean },
): ExporterRecord {
  const { namespace, name, labels, enabled = true } = record;
  return {
    namespace,
    name,
    labels,
    enabled,
    uid: randomUUID(),
    devices: null,
    lastSeen: null,
    status: "Offline",
    statusMessage: "",
    createdAt: now(),
  };
}

function exporterToRow(exporter: ExporterRecord): Row {
  return {
    ...keyOf(exporter),
    uid: exporter.uid,
    labels: JSON.stringify(exporter.labels),
    enabled: flag(exporter.enabled),
    devices: exporter.devices === null ? null : JSON.stringify(exporter.devices),
    last_seen: exporter.lastSeen,
    status: exporter.status,
    status_message: exporter.statusMessage,
    version: exporter.version ?? null,
    created_at: exporter.createdAt,
  };
}

function exporterFromRow(row: Row): ExporterRecord {
  return {
    ...keyOf(row),
    uid: String(row.uid),
    labels: parse(row, "labels"),
    enabled: row.enabled === 1,
    devices: row.devices === null ? null : parse(row, "devices"),
    lastSeen: row.last_seen as number | null,
    status: row.status as ExporterRecord["status"],
    statusMessage: String(row.status_message),
    ...optional("version", row.version as string | null),
    createdAt: Number(row.created_at),
  };
}

/** Every column but `seq`, which SQLite assigns and nothing changes afterwards. */
function leaseToRow(lease: LeaseRecord): Row {
  const { status } = lease;
  return {
    ...keyOf(lease),
    client: lease.client,
    selector: JSON.stringify(lease.selector),
    exporter_name: lease.exporterName ?? null,
    duration_ms: lease.durationMs,
    begin_time: lease.beginTime ?? null,
    end_time: lease.endTime ?? null,
    tags: JSON.stringify(lease.tags),
    context: JSON.stringify(lease.context),
    allow_disabled: flag(lease.allowDisabled),
    release: flag(lease.release),
    created_at: lease.createdAt,
    status_exporter: status.exporter ?? null,
    status_begin_time: status.beginTime ?? null,
    status_end_time: status.endTime ?? null,
    ended: flag(status.ended),
    priority: status.priority,
    spot_access: flag(status.spotAccess),
    conditions: JSON.stringify(status.conditions),
  };
}

function leaseFromRow(row: Row): LeaseRecord {
  return {
    ...keyOf(row),
    client: String(row.client),
    selector: parse(row, "selector"),
    ...optional("exporterName", row.exporter_name as string | null),
    durationMs: Number(row.duration_ms),
    ...optional("beginTime", row.begin_time as number | null),
    ...optional("endTime", row.end_time as number | null),
    tags: parse(row, "tags"),
    context: parse(row, "context"),
    allowDisabled: row.allow_disabled === 1,
    release: row.release === 1,
    seq: Number(row.seq),
    createdAt: Number(row.created_at),
    status: {
      ...optional("exporter", row.status_exporter as string | null),
      ...optional("beginTime", row.status_begin_time as number | null),
      ...optional("endTime", row.status_end_time as number | null),
      ended: row.ended === 1,
      priority: Number(row.priority),
      spotAccess: row.spot_access === 1,
      conditions: parse(row, "conditions"),
    },
  };
}

function policyToRow(policy: AccessPolicyRecord): Row {
  return {
    ...keyOf(policy),
    exporter_selector: JSON.stringify(policy.exporterSelector),
    policies: JSON.stringify(policy.policies),
  };
}

function policyFromRow(row: Row): AccessPolicyRecord {
  return {
    ...keyOf(row),
    exporterSelector: parse(row, "exporter_selector"),
    policies: parse(row, "policies"),
  };
}

function keyOf(
  record: { namespace?: unknown; name?: unknown },
): { namespace: string; name: string } {
  return { namespace: String(record.namespace), name: String(record.name) };
}

/** Parses a JSON column; a bad value names its column rather than failing anonymously. */
function parse<T>(row: Row, column: string): T {
  try {
    return JSON.parse(String(row[column])) as T;
  } catch (error) {
    throw new Error(`column ${column} of ${row.namespace}/${row.name}: ${oneLine(error)}`);
  }
}

/** `{ [key]: value }`, or nothing for SQL NULL, so absent optional fields stay absent. */
function optional<K extends string, V>(key: K, value: V | null): { [P in K]?: V } {
  return value === null ? {} : { [key]: value } as { [P in K]?: V };
}

/** The fields of `patch` among `fields` that carry a value (undefined leaves a field as is). */
function given<T extends object, K extends keyof T>(patch: T, fields: readonly K[]): Partial<T> {
  const picked: Partial<T> = {};
  for (const field of fields) {
    if (patch[field] !== undefined) picked[field] = patch[field];
  }
  return picked;
}

function flag(value: boolean): number {
  return value ? 1 : 0;
}

function now(): number {
  return Date.now();
}

function isPending(lease: LeaseRecord): boolean {
  return !lease.status.ended && lease.status.exporter === undefined;
}

function isActive(lease: LeaseRecord): boolean {
  return !lease.status.ended && lease.status.exporter !== undefined;
}

/** When a lease granted at `beginTime` ends: the client's end time, else its duration later. */
function plannedEnd(lease: LeaseRecord, beginTime: number): number {
  return lease.endTime ?? beginTime + lease.durationMs;
}

function ended(lease: LeaseRecord, at: number, conditions: Condition[]): LeaseRecord {
  return { ...lease, status: { ...lease.status, ended: true, endTime: at, conditions } };
}

/** Replaces the condition of the same type, as Kubernetes' SetStatusCondition does. */
function withCondition(conditions: Condition[], condition: Condition): Condition[] {
  return [...conditions.filter((c) => c.type !== condition.type), condition];
}

function isSqliteError(error: unknown): boolean {
  return (error as { code?: unknown })?.code === "ERR_SQLITE_ERROR";
}

function oneLine(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  return text.replace(/\s+/g, " ").trim();
}
