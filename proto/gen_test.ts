// Guards the protocol: the checked-in generated code must match the .proto files, and the
// .proto files must match upstream's wire contract as written down in the spec.

import assert from "node:assert/strict";
import { join } from "node:path";
import { create, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import type { DescField, DescFile, DescMessage } from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { DEFAULT_OUT_DIR, generate, listFiles } from "../build/gen.ts";
import {
  clientv1,
  DriverCallRequestSchema,
  ErrorInfoSchema,
  file_google_rpc_error_details,
  file_google_rpc_status,
  file_jumpstarter_v1_common,
  file_jumpstarter_v1_jumpstarter,
  file_jumpstarter_v1_kubernetes,
  file_jumpstarter_v1_router,
  file_jumpstarter_v1_telemetry,
  FrameType,
  StatusSchema,
  StreamRequestSchema,
  UnregisterRequestSchema,
} from "./mod.ts";

/**
 * The wire contract, one declaration a line, in the spec's notation:
 * `file PATH PACKAGE [IMPORT...]`, `rpc SERVICE.RPC REQUEST RESPONSE KIND`,
 * `message NAME { field=N: TYPE; ... }` and `enum NAME: VALUE=N, ...`.
 * Type names without a package are in the file's package or in jumpstarter.v1.
 */
const SPEC = `
file jumpstarter/v1/kubernetes.proto jumpstarter.v1
message LabelSelectorRequirement { key=1: string; operator=2: string; values=3: repeated string }
message LabelSelector { match_expressions=1: repeated LabelSelectorRequirement; match_labels=2: map<string,string> }
message Time { seconds=1: optional int64; nanos=2: optional int32 }
message Condition { type=1: optional string; status=2: optional string; observedGeneration=3: optional int64; lastTransitionTime=4: optional Time; reason=5: optional string; message=6: optional string }

file jumpstarter/v1/telemetry.proto jumpstarter.v1 google/protobuf/timestamp.proto
rpc TelemetryService.PushLogs PushLogsRequest PushLogsResponse unary
message PushLogsRequest { entries=1: repeated LogEntry }
message PushLogsResponse { accepted=1: uint32; dropped=2: uint32 }
message LogEntry { timestamp=1: google.protobuf.Timestamp; severity=2: string; message=3: string; component=4: string; exporter=5: string; lease=6: string; client=7: string; operation=8: string; result=9: string; driver_type=10: string; extra_fields=11: map<string,string>; namespace=12: string }

file jumpstarter/v1/router.proto jumpstarter.v1
rpc RouterService.Stream StreamRequest StreamResponse bidi
message StreamRequest { payload=1: bytes; frame_type=2: FrameType }
message StreamResponse { payload=1: bytes; frame_type=2: FrameType }
enum FrameType: FRAME_TYPE_DATA=0, FRAME_TYPE_RST_STREAM=3, FRAME_TYPE_PING=6, FRAME_TYPE_GOAWAY=7

file jumpstarter/v1/common.proto jumpstarter.v1
enum ExporterStatus: EXPORTER_STATUS_UNSPECIFIED=0, EXPORTER_STATUS_OFFLINE=1, EXPORTER_STATUS_AVAILABLE=2, EXPORTER_STATUS_BEFORE_LEASE_HOOK=3, EXPORTER_STATUS_LEASE_READY=4, EXPORTER_STATUS_AFTER_LEASE_HOOK=5, EXPORTER_STATUS_BEFORE_LEASE_HOOK_FAILED=6, EXPORTER_STATUS_AFTER_LEASE_HOOK_FAILED=7
enum LogSource: LOG_SOURCE_UNSPECIFIED=0, LOG_SOURCE_DRIVER=1, LOG_SOURCE_BEFORE_LEASE_HOOK=2, LOG_SOURCE_AFTER_LEASE_HOOK=3, LOG_SOURCE_SYSTEM=4

file jumpstarter/v1/jumpstarter.proto jumpstarter.v1 google/protobuf/duration.proto google/protobuf/empty.proto google/protobuf/struct.proto google/protobuf/timestamp.proto jumpstarter/v1/kubernetes.proto jumpstarter/v1/common.proto
rpc ControllerService.Register RegisterRequest RegisterResponse unary
rpc ControllerService.Unregister UnregisterRequest UnregisterResponse unary
rpc ControllerService.ReportStatus ReportStatusRequest ReportStatusResponse unary
rpc ControllerService.Listen ListenRequest ListenResponse server
rpc ControllerService.Status StatusRequest StatusResponse server
rpc ControllerService.Dial DialRequest DialResponse unary
rpc ControllerService.GetLease GetLeaseRequest GetLeaseResponse unary
rpc ControllerService.RequestLease RequestLeaseRequest RequestLeaseResponse unary
rpc ControllerService.ReleaseLease ReleaseLeaseRequest ReleaseLeaseResponse unary
rpc ControllerService.ListLeases ListLeasesRequest ListLeasesResponse unary
rpc ControllerService.GetServiceEndpoints GetServiceEndpointsRequest GetServiceEndpointsResponse unary
rpc ExporterService.GetReport google.protobuf.Empty GetReportResponse unary
rpc ExporterService.DriverCall DriverCallRequest DriverCallResponse unary
rpc ExporterService.StreamingDriverCall StreamingDriverCallRequest StreamingDriverCallResponse server
rpc ExporterService.LogStream google.protobuf.Empty LogStreamResponse server
rpc ExporterService.Reset ResetRequest ResetResponse unary
rpc ExporterService.GetStatus GetStatusRequest GetStatusResponse unary
rpc ExporterService.EndSession EndSessionRequest EndSessionResponse unary
message RegisterRequest { labels=1: map<string,string>; reports=2: repeated DriverInstanceReport }
message DriverInstanceReport { uuid=1: string; parent_uuid=2: optional string; labels=3: map<string,string>; description=4: optional string; methods_description=5: map<string,string> }
message RegisterResponse { uuid=1: string }
message UnregisterRequest { reason=2: string }
message UnregisterResponse {  }
message ListenRequest { lease_name=1: string }
message ListenResponse { router_endpoint=1: string; router_token=2: string }
message StatusRequest {  }
message StatusResponse { leased=1: bool; lease_name=2: optional string; client_name=3: optional string; context=4: map<string,string> }
message DialRequest { lease_name=1: string }
message DialResponse { router_endpoint=1: string; router_token=2: string }
message ReportStatusRequest { status=1: ExporterStatus; message=2: optional string; release_lease=3: optional bool }
message ReportStatusResponse {  }
message GetReportResponse { uuid=1: string; labels=2: map<string,string>; reports=3: repeated DriverInstanceReport; alternative_endpoints=4: repeated Endpoint; motd=5: string }
message Endpoint { endpoint=1: string; certificate=2: string; client_certificate=3: string; client_private_key=4: string }
message DriverCallRequest { uuid=1: string; method=2: string; args=3: repeated google.protobuf.Value }
message DriverCallResponse { uuid=1: string; result=2: google.protobuf.Value }
message StreamingDriverCallRequest { uuid=1: string; method=2: string; args=3: repeated google.protobuf.Value }
message StreamingDriverCallResponse { uuid=1: string; result=2: google.protobuf.Value }
message LogStreamResponse { uuid=1: string; severity=2: string; message=3: string; source=4: optional LogSource; driver_type=5: optional string; operation=6: optional string; timestamp=7: optional google.protobuf.Timestamp; structured_fields=8: map<string,string> }
message ResetRequest {  }
message ResetResponse {  }
message GetLeaseRequest { name=1: string }
message GetLeaseResponse { duration=1: google.protobuf.Duration; selector=2: LabelSelector; begin_time=3: optional google.protobuf.Timestamp; end_time=4: optional google.protobuf.Timestamp; exporter_uuid=5: optional string; conditions=6: repeated Condition }
message RequestLeaseRequest { duration=1: google.protobuf.Duration; selector=2: LabelSelector }
message RequestLeaseResponse { name=1: string }
message ReleaseLeaseRequest { name=1: string }
message ReleaseLeaseResponse {  }
message ListLeasesRequest {  }
message ListLeasesResponse { names=1: repeated string }
message GetStatusRequest {  }
message GetStatusResponse { status=1: ExporterStatus; message=2: optional string; status_version=3: uint64; previous_status=4: optional ExporterStatus }
message EndSessionRequest {  }
message EndSessionResponse { success=1: bool; message=2: optional string }
message GetServiceEndpointsRequest {  }
message GetServiceEndpointsResponse { telemetry_endpoints=1: repeated TelemetryEndpoint }
message TelemetryEndpoint { endpoint=1: string; certificate=2: string; min_severity=3: string }

file jumpstarter/client/v1/client.proto jumpstarter.client.v1 google/api/annotations.proto google/api/client.proto google/api/field_behavior.proto google/api/resource.proto google/protobuf/duration.proto google/protobuf/empty.proto google/protobuf/field_mask.proto google/protobuf/timestamp.proto jumpstarter/v1/kubernetes.proto jumpstarter/v1/common.proto
rpc ClientService.GetExporter GetExporterRequest Exporter unary
rpc ClientService.ListExporters ListExportersRequest ListExportersResponse unary
rpc ClientService.GetLease GetLeaseRequest Lease unary
rpc ClientService.ListLeases ListLeasesRequest ListLeasesResponse unary
rpc ClientService.CreateLease CreateLeaseRequest Lease unary
rpc ClientService.UpdateLease UpdateLeaseRequest Lease unary
rpc ClientService.DeleteLease DeleteLeaseRequest google.protobuf.Empty unary
rpc ClientService.RotateToken RotateTokenRequest RotateTokenResponse unary
message Exporter { name=1: string; labels=2: map<string,string>; online=3: bool; status=4: ExporterStatus; status_message=5: string; enabled=6: optional bool; deprecated_labels=7: map<string,string> }
message Lease { name=1: string; selector=2: string; duration=3: optional google.protobuf.Duration; effective_duration=4: google.protobuf.Duration; begin_time=5: optional google.protobuf.Timestamp; effective_begin_time=6: optional google.protobuf.Timestamp; end_time=7: optional google.protobuf.Timestamp; effective_end_time=8: optional google.protobuf.Timestamp; client=9: optional string; exporter=10: optional string; conditions=11: repeated Condition; exporter_name=12: optional string; tags=13: map<string,string>; allow_disabled=14: bool; context=15: map<string,string>; deprecated_labels=16: map<string,string> }
message GetExporterRequest { name=1: string; show_hidden_labels=2: bool }
message ListExportersRequest { parent=1: string; page_size=2: int32; page_token=3: string; filter=4: string; show_hidden_labels=5: bool }
message ListExportersResponse { exporters=1: repeated Exporter; next_page_token=2: string }
message GetLeaseRequest { name=1: string }
message ListLeasesRequest { parent=1: string; page_size=2: int32; page_token=3: string; filter=4: string; only_active=5: optional bool; tag_filter=6: string }
message ListLeasesResponse { leases=1: repeated Lease; next_page_token=2: string }
message CreateLeaseRequest { parent=1: string; lease_id=2: string; lease=3: Lease }
message UpdateLeaseRequest { lease=1: Lease; update_mask=2: google.protobuf.FieldMask }
message DeleteLeaseRequest { name=1: string }
message RotateTokenRequest { parent=1: string }
message RotateTokenResponse { token=1: string; expiry=2: google.protobuf.Timestamp }
`;

/** Our generated files, by .proto path. */
const FILES: Record<string, DescFile> = Object.fromEntries(
  [
    file_jumpstarter_v1_kubernetes,
    file_jumpstarter_v1_telemetry,
    file_jumpstarter_v1_router,
    file_jumpstarter_v1_common,
    file_jumpstarter_v1_jumpstarter,
    clientv1.file_jumpstarter_client_v1_client,
  ].map((f) => [f.proto.name, f]),
);

const STREAMING: Record<string, string> = {
  unary: "unary",
  server: "server_streaming",
  client: "client_streaming",
  bidi: "bidi_streaming",
};

/** A file of the spec, gathered from its lines. */
interface SpecFile {
  pkg: string;
  imports: string[];
  rpcs: string[];
  messages: string[];
  enums: string[];
}

function parseSpec(text: string): Map<string, SpecFile> {
  const files = new Map<string, SpecFile>();
  let current: SpecFile | undefined;
  for (const line of text.split("\n").map((l) => l.trim()).filter((l) => l !== "")) {
    const [word, ...rest] = line.split(" ");
    if (word === "file") {
      const [path, pkg, ...imports] = rest;
      current = { pkg, imports, rpcs: [], messages: [], enums: [] };
      files.set(path, current);
      continue;
    }
    assert.ok(current, `spec line before any file: ${line}`);
    if (word === "rpc") {
      const [name, input, output, kind] = rest;
      current.rpcs.push(`${name} ${input} ${output} ${STREAMING[kind]}`);
    } else if (word === "message") {
      current.messages.push(normalizeMessage(rest.join(" ")));
    } else if (word === "enum") {
      current.enums.push(rest.join(" "));
    } else {
      assert.fail(`unknown spec line: ${line}`);
    }
  }
  return files;
}

/** Canonical spacing for a message line, so that `{  }` and `{ }` compare equal. */
function normalizeMessage(text: string): string {
  const match = text.match(/^(\w+)\s*\{(.*)\}$/);
  assert.ok(match, `bad spec message: ${text}`);
  const fields = match[2].split(";").map((f) => f.trim()).filter((f) => f !== "");
  return `${match[1]} { ${fields.join("; ")} }`;
}

/** A type name as the spec writes it: local and jumpstarter.v1 names without their package. */
function specTypeName(desc: { typeName: string; name: string }, pkg: string): string {
  const local = [pkg, "jumpstarter.v1"].some((p) => desc.typeName === `${p}.${desc.name}`);
  return local ? desc.name : desc.typeName;
}

function scalarName(scalar: ScalarType): string {
  return ScalarType[scalar].toLowerCase();
}

function describeField(field: DescField, pkg: string): string {
  let type: string;
  switch (field.fieldKind) {
    case "scalar":
      type = scalarName(field.scalar);
      break;
    case "enum":
      type = specTypeName(field.enum, pkg);
      break;
    case "message":
      type = specTypeName(field.message, pkg);
      break;
    case "list":
      type = "repeated " +
        (field.listKind === "scalar"
          ? scalarName(field.scalar)
          : specTypeName(field.listKind === "enum" ? field.enum : field.message, pkg));
      break;
    case "map": {
      const value = field.mapKind === "scalar"
        ? scalarName(field.scalar)
        : specTypeName(field.mapKind === "enum" ? field.enum : field.message, pkg);
      type = `map<${scalarName(field.mapKey)},${value}>`;
      break;
    }
  }
  return `${field.name}=${field.number}: ${field.proto.proto3Optional ? "optional " : ""}${type}`;
}

function describeMessage(message: DescMessage, pkg: string): string {
  const fields = message.fields.map((f) => describeField(f, pkg));
  return `${message.name} { ${fields.join("; ")} }`;
}

Deno.test("generated code is up to date with the .proto files", async () => {
  const fresh = await Deno.makeTempDir({ prefix: "jumpstarter-gen-test-" });
  try {
    await generate(fresh);
    const expected = await listFiles(fresh);
    const actual = await listFiles(DEFAULT_OUT_DIR).catch((): string[] => []);
    const hint = "run `deno task gen` and commit proto/gen/";
    for (const file of expected) {
      assert.ok(actual.includes(file), `proto/gen/${file} is missing: ${hint}`);
      const want = await Deno.readFile(join(fresh, file));
      const got = await Deno.readFile(join(DEFAULT_OUT_DIR, file));
      assert.ok(
        want.length === got.length && want.every((b, i) => b === got[i]),
        `proto/gen/${file} is stale: ${hint}`,
      );
    }
    for (const file of actual) {
      assert.ok(expected.includes(file), `proto/gen/${file} is not generated any more: ${hint}`);
    }
  } finally {
    await Deno.remove(fresh, { recursive: true });
  }
});

Deno.test("the .proto files declare exactly the spec's wire contract", async (t) => {
  const spec = parseSpec(SPEC);
  assert.deepEqual([...spec.keys()].sort(), Object.keys(FILES).sort());
  for (const [path, want] of spec) {
    await t.step(path, () => {
      const file = FILES[path];
      assert.equal(file.proto.package, want.pkg);
      assert.equal(file.proto.syntax, "proto3");
      assert.deepEqual(file.proto.dependency.toSorted(), want.imports.toSorted(), "imports");
      const rpcs = file.services.flatMap((s) =>
        s.methods.map((m) =>
          `${s.name}.${m.name} ${specTypeName(m.input, want.pkg)} ` +
          `${specTypeName(m.output, want.pkg)} ${m.methodKind}`
        )
      );
      assert.deepEqual(rpcs, want.rpcs, "services");
      const messages = file.messages.map((m) => describeMessage(m, want.pkg));
      assert.deepEqual(messages.toSorted(), want.messages.toSorted(), "messages");
      const enums = file.enums.map((e) =>
        `${e.name}: ${e.values.map((v) => `${v.name}=${v.number}`).join(", ")}`
      );
      assert.deepEqual(enums, want.enums, "enums");
    });
  }
});

Deno.test("wire facts that are easy to get wrong", () => {
  // Spot checks that read independently of the table above.
  assert.equal(UnregisterRequestSchema.field.reason.number, 2);
  assert.equal(FrameType.DATA, 0);
  assert.equal(FrameType.RST_STREAM, 3);
  assert.equal(FrameType.PING, 6);
  assert.equal(FrameType.GOAWAY, 7);
  const condition = file_jumpstarter_v1_kubernetes.messages.find((m) => m.name === "Condition");
  assert.ok(condition);
  assert.equal(condition.field.observedGeneration.jsonName, "observedGeneration");
  assert.equal(condition.field.observedGeneration.number, 3);
  assert.equal(condition.field.lastTransitionTime.jsonName, "lastTransitionTime");
  assert.equal(condition.field.lastTransitionTime.number, 4);
  assert.equal(
    clientv1.ClientService.method.deleteLease.output.typeName,
    "google.protobuf.Empty",
  );
  assert.equal(clientv1.LeaseSchema.field.exporterName.number, 12);
  assert.equal(clientv1.ClientService.typeName, "jumpstarter.client.v1.ClientService");
  const args = DriverCallRequestSchema.field.args;
  assert.equal(args.fieldKind, "list");
  assert.equal(args.message?.typeName, "google.protobuf.Value");
  // google.rpc error details for rich gRPC errors.
  assert.equal(StatusSchema.typeName, "google.rpc.Status");
  assert.equal(ErrorInfoSchema.typeName, "google.rpc.ErrorInfo");
  assert.equal(file_google_rpc_status.proto.package, "google.rpc");
  assert.equal(file_google_rpc_error_details.proto.package, "google.rpc");
});

Deno.test("messages round-trip through the binary wire format", () => {
  const frame = create(StreamRequestSchema, {
    payload: new Uint8Array([1, 2]),
    frameType: FrameType.GOAWAY,
  });
  const frameBytes = toBinary(StreamRequestSchema, frame);
  // payload: field 1, length-delimited; frame_type: field 2, varint.
  assert.deepEqual([...frameBytes], [0x0a, 0x02, 0x01, 0x02, 0x10, 0x07]);
  assert.deepEqual(fromBinary(StreamRequestSchema, frameBytes), frame);

  const args = [5, "x", null, true, [1.5, "y"], { voltage: 5, current: 2 }];
  const call = create(DriverCallRequestSchema, {
    uuid: "0b5a8e32-8d3c-4b65-a1c6-2f1a3a7d9e10",
    method: "write",
    args: args.map((a) => fromJson(ValueSchema, a)),
  });
  const decoded = fromBinary(DriverCallRequestSchema, toBinary(DriverCallRequestSchema, call));
  assert.equal(decoded.uuid, call.uuid);
  assert.equal(decoded.method, "write");
  assert.deepEqual(decoded.args.map((v) => toJson(ValueSchema, v)), args);

  const bye = toBinary(UnregisterRequestSchema, create(UnregisterRequestSchema, { reason: "x" }));
  assert.deepEqual([...bye], [0x12, 0x01, 0x78]);
});
