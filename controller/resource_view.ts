// Store records as the protocol shows them: ClientService's Lease and Exporter resources, the
// legacy ControllerService GetLease answer, and resource names (`namespaces/NS/leases/NAME`).

import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  clientv1,
  ConditionSchema,
  ExporterStatus,
  type GetLeaseResponse,
  GetLeaseResponseSchema,
  LabelSelectorSchema,
} from "../proto/mod.ts";
import { isOnline, plannedEnd } from "./lease_scheduler.ts";
import { formatSelector } from "./selector.ts";
import type { Condition, ExporterRecord, ExporterStatusName, LeaseRecord } from "./store/mod.ts";

/** A parsed resource name. */
export interface ResourceName {
  namespace: string;
  name: string;
}

/** `namespaces/NS/KIND/NAME` → its parts; INVALID_ARGUMENT when it is not such a name. */
export function parseResourceName(text: string, kind: "leases" | "exporters" | "clients") {
  const match = new RegExp(`^namespaces/([^/]+)/${kind}/([^/]+)$`).exec(text);
  if (!match) {
    throw new ConnectError(
      `"${text}" is not a ${kind.slice(0, -1)} name (namespaces/NAMESPACE/${kind}/NAME)`,
      Code.InvalidArgument,
    );
  }
  return { namespace: match[1], name: match[2] };
}

/** `namespaces/NS` → NS. */
export function parseParent(text: string): string {
  const match = /^namespaces\/([^/]+)$/.exec(text);
  if (!match) {
    throw new ConnectError(
      `"${text}" is not a parent name (namespaces/NAMESPACE)`,
      Code.InvalidArgument,
    );
  }
  return match[1];
}

/** The resource name of a record. */
export function resourceName(kind: "leases" | "exporters" | "clients", r: ResourceName): string {
  return `namespaces/${r.namespace}/${kind}/${r.name}`;
}

const STATUS_VALUES: Record<ExporterStatusName, ExporterStatus> = {
  Unspecified: ExporterStatus.UNSPECIFIED,
  Offline: ExporterStatus.OFFLINE,
  Available: ExporterStatus.AVAILABLE,
  BeforeLeaseHook: ExporterStatus.BEFORE_LEASE_HOOK,
  LeaseReady: ExporterStatus.LEASE_READY,
  AfterLeaseHook: ExporterStatus.AFTER_LEASE_HOOK,
  BeforeLeaseHookFailed: ExporterStatus.BEFORE_LEASE_HOOK_FAILED,
  AfterLeaseHookFailed: ExporterStatus.AFTER_LEASE_HOOK_FAILED,
};

/** The enum value of a status name. */
export function statusValue(name: ExporterStatusName): ExporterStatus {
  return STATUS_VALUES[name];
}

/** The status name of an enum value (Unspecified for unknown values). */
export function statusName(value: ExporterStatus): ExporterStatusName {
  const found = Object.entries(STATUS_VALUES).find(([, v]) => v === value);
  return (found?.[0] ?? "Unspecified") as ExporterStatusName;
}

function optionalTime(ms: number | undefined) {
  return ms === undefined ? undefined : timestampFromMs(ms);
}

function conditionMessage(c: Condition) {
  return create(ConditionSchema, {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: {
      seconds: BigInt(Math.floor(c.lastTransitionTime / 1000)),
      nanos: (c.lastTransitionTime % 1000) * 1e6,
    },
  });
}

/** A lease as ClientService shows it. */
export function leaseResource(lease: LeaseRecord, now: number): clientv1.Lease {
  const begin = lease.status.beginTime;
  const end = lease.status.ended ? lease.status.endTime : undefined;
  return create(clientv1.LeaseSchema, {
    name: resourceName("leases", lease),
    selector: formatSelector(lease.selector),
    duration: durationFromMs(lease.durationMs),
    effectiveDuration: durationFromMs(begin === undefined ? 0 : Math.max(0, (end ?? now) - begin)),
    beginTime: optionalTime(lease.beginTime),
    endTime: optionalTime(lease.endTime),
    effectiveBeginTime: optionalTime(begin),
    effectiveEndTime: optionalTime(lease.status.ended ? lease.status.endTime : plannedEnd(lease)),
    client: resourceName("clients", { namespace: lease.namespace, name: lease.client }),
    exporter: lease.status.exporter
      ? resourceName("exporters", { namespace: lease.namespace, name: lease.status.exporter })
      : undefined,
    exporterName: lease.exporterName,
    conditions: lease.status.conditions.map(conditionMessage),
    tags: lease.tags,
    allowDisabled: lease.allowDisabled,
    context: lease.context,
  });
}

/** A lease as the legacy ControllerService GetLease answers. */
export function legacyLease(lease: LeaseRecord, exporter?: ExporterRecord): GetLeaseResponse {
  return create(GetLeaseResponseSchema, {
    duration: durationFromMs(lease.durationMs),
    selector: create(LabelSelectorSchema, {
      matchLabels: lease.selector.matchLabels,
      matchExpressions: lease.selector.matchExpressions,
    }),
    beginTime: optionalTime(lease.status.beginTime),
    endTime: optionalTime(lease.status.ended ? lease.status.endTime : plannedEnd(lease)),
    exporterUuid: exporter?.uid,
    conditions: lease.status.conditions.map(conditionMessage),
  });
}

/** An exporter as ClientService shows it. */
export function exporterResource(
  exporter: ExporterRecord,
  now: number,
  connected: boolean,
): clientv1.Exporter {
  const online = isOnline(exporter, now, connected);
  return create(clientv1.ExporterSchema, {
    name: resourceName("exporters", exporter),
    labels: exporter.labels,
    online,
    status: statusValue(online ? exporter.status : "Offline"),
    statusMessage: online ? exporter.statusMessage : offlineMessage(exporter, now),
    enabled: exporter.enabled,
  });
}

function offlineMessage(exporter: ExporterRecord, now: number): string {
  // Refused for a reason (e.g. its version): that says more than when it was last seen.
  if (exporter.statusMessage.startsWith("refused: ")) return exporter.statusMessage;
  if (exporter.lastSeen === null) return "never connected";
  return `last seen ${Math.round((now - exporter.lastSeen) / 1000)} s ago`;
}
