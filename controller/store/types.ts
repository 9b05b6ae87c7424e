// What the controller keeps: clients, exporters, leases and access policies, shaped after
// upstream's CRDs (jumpstarter.dev/v1alpha1) so that the embedded SQLite store and the
// Kubernetes store hold the same facts. Times are milliseconds since the epoch.

/** A label selector with Kubernetes semantics (matchLabels AND every matchExpression). */
export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: SelectorRequirement[];
}

/** One matchExpression. */
export interface SelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values: string[];
}

/** A Kubernetes-style condition, as upstream's `Condition` message carries it. */
export interface Condition {
  type: "Pending" | "Ready" | "Unsatisfiable" | "Invalid" | "Registered" | "Online";
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: number;
}

/** Upstream's ExporterStatus names (common.proto), as the CRD spells them. */
export type ExporterStatusName =
  | "Unspecified"
  | "Offline"
  | "Available"
  | "BeforeLeaseHook"
  | "LeaseReady"
  | "AfterLeaseHook"
  | "BeforeLeaseHookFailed"
  | "AfterLeaseHookFailed";

/** A registered client identity. */
export interface ClientRecord {
  namespace: string;
  name: string;
  /** Fixed at creation; part of the token subject, so a re-created client gets new tokens. */
  uid: string;
  labels: Record<string, string>;
  /** An external OIDC user name mapped to this client, if any. */
  username?: string;
  createdAt: number;
}

/** One driver of an exporter's last registration. */
export interface DeviceRecord {
  uuid: string;
  parentUuid?: string;
  labels: Record<string, string>;
}

/** A registered exporter identity and what it last reported. */
export interface ExporterRecord {
  namespace: string;
  name: string;
  uid: string;
  /** Set by the admin; leases select on them. */
  labels: Record<string, string>;
  enabled: boolean;
  /** Drivers of the last Register; null when it never registered. */
  devices: DeviceRecord[] | null;
  /** When the exporter was last heard from (Status stream, ReportStatus); null: never. */
  lastSeen: number | null;
  status: ExporterStatusName;
  statusMessage: string;
  /** The exporter's software version, from its last Register. */
  version?: string;
  createdAt: number;
}

/** Why a lease ended or cannot start (the reason of its condition). */
export type LeaseEndReason =
  | "Released"
  | "Expired"
  | "ExporterNotFound"
  | "SelectorMismatch"
  | "ExporterDisabled"
  | "AllDisabled"
  | "NoAccess"
  | "InvalidSelector";

/** A lease: what the client asked for (spec) and what the controller made of it (status). */
export interface LeaseRecord {
  namespace: string;
  /** A UUIDv7 unless the client chose one. */
  name: string;
  /** The client's name (same namespace). */
  client: string;
  selector: LabelSelector;
  /** spec.exporterRef: a specific exporter asked for by name. */
  exporterName?: string;
  /** Requested duration. */
  durationMs: number;
  /** spec.beginTime / spec.endTime when the client set them. */
  beginTime?: number;
  endTime?: number;
  tags: Record<string, string>;
  context: Record<string, string>;
  allowDisabled: boolean;
  /** spec.release: the client (or exporter) asked to end it. */
  release: boolean;
  /** The order of arrival: the FIFO queue among pending leases. */
  seq: number;
  createdAt: number;
  status: LeaseStatus;
}

/** What the controller made of a lease. */
export interface LeaseStatus {
  /** The exporter it was granted (status.exporterRef). */
  exporter?: string;
  /** When it was granted, and when it ended (or will end). */
  beginTime?: number;
  endTime?: number;
  ended: boolean;
  priority: number;
  spotAccess: boolean;
  conditions: Condition[];
}

/** An access policy (upstream's ExporterAccessPolicy). */
export interface AccessPolicyRecord {
  namespace: string;
  name: string;
  /** Which exporters it governs. */
  exporterSelector: LabelSelector;
  policies: {
    description?: string;
    priority: number;
    /** Clients (by their labels) the rule admits. */
    from: { clientSelector: LabelSelector }[];
    maximumDurationMs?: number;
    spotAccess: boolean;
  }[];
}

/** A store's answer when a name is taken. */
export class AlreadyExistsError extends Error {
  /** Creates the error. */
  constructor(kind: string, namespace: string, name: string) {
    super(`${kind} ${namespace}/${name} already exists`);
    this.name = "AlreadyExistsError";
  }
}

/** A store's answer when a name is unknown. */
export class NotFoundError extends Error {
  /** Creates the error. */
  constructor(kind: string, namespace: string, name: string) {
    super(`${kind} ${namespace}/${name} not found`);
    this.name = "NotFoundError";
  }
}

/**
 * Where the controller keeps its state. Every method is atomic; `grantLease` is the one that
 * makes "never granted twice" hold: it succeeds only while the lease is pending and the
 * exporter holds no other active lease, checked and written in one step (a transaction in
 * SQLite, a resourceVersion-guarded update on Kubernetes).
 */
export interface Store {
  createClient(record: Omit<ClientRecord, "uid" | "createdAt">): Promise<ClientRecord>;
  getClient(namespace: string, name: string): Promise<ClientRecord | undefined>;
  listClients(namespace: string): Promise<ClientRecord[]>;
  /** Deletes the client and ends its active leases (reason Released). */
  deleteClient(namespace: string, name: string): Promise<void>;

  createExporter(
    record: Pick<ExporterRecord, "namespace" | "name" | "labels"> & { enabled?: boolean },
  ): Promise<ExporterRecord>;
  getExporter(namespace: string, name: string): Promise<ExporterRecord | undefined>;
  listExporters(namespace: string): Promise<ExporterRecord[]>;
  /** Applies `patch` (registration, status, lastSeen, labels, enabled); NotFoundError if gone. */
  updateExporter(
    namespace: string,
    name: string,
    patch: Partial<
      Pick<
        ExporterRecord,
        "labels" | "enabled" | "devices" | "lastSeen" | "status" | "statusMessage" | "version"
      >
    >,
  ): Promise<ExporterRecord>;
  /** Deletes the exporter and ends its active lease (reason Released). */
  deleteExporter(namespace: string, name: string): Promise<void>;

  /** Adds a pending lease at the end of the queue (assigns `seq`); AlreadyExistsError. */
  createLease(record: Omit<LeaseRecord, "seq" | "createdAt" | "status">): Promise<LeaseRecord>;
  getLease(namespace: string, name: string): Promise<LeaseRecord | undefined>;
  /** Leases of `namespace` in queue order; only those not ended unless `includeEnded`. */
  listLeases(
    namespace: string,
    options?: { includeEnded?: boolean; client?: string },
  ): Promise<LeaseRecord[]>;
  /** The active (granted, not ended) lease on an exporter, if any. */
  activeLeaseOf(namespace: string, exporter: string): Promise<LeaseRecord | undefined>;
  /** Updates spec fields a client may change (durationMs, endTime, beginTime, release, client). */
  updateLeaseSpec(
    namespace: string,
    name: string,
    patch: Partial<
      Pick<LeaseRecord, "durationMs" | "beginTime" | "endTime" | "release" | "client">
    >,
  ): Promise<LeaseRecord>;
  /** Updates the conditions of a lease that is not granted yet (Pending reasons). */
  setLeaseConditions(namespace: string, name: string, conditions: Condition[]): Promise<void>;
  /**
   * Grants pending lease `name` the exporter `exporter` from `now`: false (and no change) when
   * the lease is no longer pending or the exporter already holds an active lease.
   */
  grantLease(
    namespace: string,
    name: string,
    exporter: string,
    grant: { now: number; priority: number; spotAccess: boolean; conditions: Condition[] },
  ): Promise<boolean>;
  /** Ends a lease (granted or not) with its final conditions; false if it had ended already. */
  endLease(
    namespace: string,
    name: string,
    end: { now: number; conditions: Condition[] },
  ): Promise<boolean>;

  putAccessPolicy(record: AccessPolicyRecord): Promise<void>;
  listAccessPolicies(namespace: string): Promise<AccessPolicyRecord[]>;
  deleteAccessPolicy(namespace: string, name: string): Promise<void>;

  /** Every namespace that holds a client, exporter or lease. */
  listNamespaces(): Promise<string[]>;

  /**
   * Calls `onChange` when a lease or exporter of `namespace` changes, also by another process;
   * returns the stop. Stores that cannot tell leave it out (callers then poll).
   */
  watch?(namespace: string, onChange: () => void): () => void;

  /** Releases the store's resources (closes the database). */
  close(): Promise<void>;
}
