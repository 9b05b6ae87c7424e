// The deployment files checked without a cluster: every manifest parses and has the expected
// kind, the CRDs carry upstream's fields (and upstream-style objects pass their schemas), the
// kustomizations are complete, and the Deployment, RBAC, Service, exposure overlays, image and
// exporter units agree with each other and with `jmp-controller run` / `jmp-exporter run`.

import { strict as assert } from "node:assert";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { type Schema, schemaProblems, validate } from "./crd_schema.ts";

const DEPLOY = dirname(fileURLToPath(import.meta.url));

// Manifests are untyped YAML; tests reach into them through this.
// deno-lint-ignore no-explicit-any
type Manifest = Record<string, any>;

function readText(file: string): string {
  return readFileSync(join(DEPLOY, file), "utf8");
}

/** Every document of a YAML file (comment-only documents dropped). */
function load(file: string): Manifest[] {
  return parseAllDocuments(readText(file)).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    return doc.toJS() as Manifest | null;
  }).filter((doc): doc is Manifest => doc !== null);
}

function loadOne(file: string): Manifest {
  const docs = load(file);
  assert.equal(docs.length, 1, `${file} holds one document`);
  return docs[0];
}

function yamlFiles(): string[] {
  return (readdirSync(DEPLOY, { recursive: true }) as string[])
    .filter((file) => /\.ya?ml$/.test(file))
    .sort();
}

// What each file holds, as "apiVersion Kind" per document. A new file must be added here.
const EXPECTED_KINDS: Record<string, string[]> = {
  "crds/jumpstarter.dev_clients.yaml": ["apiextensions.k8s.io/v1 CustomResourceDefinition"],
  "crds/jumpstarter.dev_exporters.yaml": ["apiextensions.k8s.io/v1 CustomResourceDefinition"],
  "crds/jumpstarter.dev_leases.yaml": ["apiextensions.k8s.io/v1 CustomResourceDefinition"],
  "crds/jumpstarter.dev_exporteraccesspolicies.yaml": [
    "apiextensions.k8s.io/v1 CustomResourceDefinition",
  ],
  "crds/kustomization.yaml": ["kustomize.config.k8s.io/v1beta1 Kustomization"],
  "kustomize/base/kustomization.yaml": ["kustomize.config.k8s.io/v1beta1 Kustomization"],
  "kustomize/base/serviceaccount.yaml": ["v1 ServiceAccount"],
  "kustomize/base/role.yaml": ["rbac.authorization.k8s.io/v1 Role"],
  "kustomize/base/rolebinding.yaml": ["rbac.authorization.k8s.io/v1 RoleBinding"],
  "kustomize/base/deployment.yaml": ["apps/v1 Deployment"],
  "kustomize/base/poddisruptionbudget.yaml": ["policy/v1 PodDisruptionBudget"],
  "kustomize/base/service.yaml": ["v1 Service"],
  "kustomize/ingress/kustomization.yaml": ["kustomize.config.k8s.io/v1beta1 Kustomization"],
  "kustomize/ingress/ingress.yaml": ["networking.k8s.io/v1 Ingress"],
  "kustomize/ingress/controller-endpoints.yaml": ["apps/v1 Deployment"],
  "kustomize/route/kustomization.yaml": ["kustomize.config.k8s.io/v1beta1 Kustomization"],
  "kustomize/route/route.yaml": ["route.openshift.io/v1 Route", "route.openshift.io/v1 Route"],
  "kustomize/route/controller-endpoints.yaml": ["apps/v1 Deployment"],
  "testdata/client.yaml": ["jumpstarter.dev/v1alpha1 Client"],
  "testdata/exporter.yaml": ["jumpstarter.dev/v1alpha1 Exporter"],
  "testdata/exporteraccesspolicy.yaml": ["jumpstarter.dev/v1alpha1 ExporterAccessPolicy"],
  "testdata/lease.yaml": ["jumpstarter.dev/v1alpha1 Lease"],
};

const CRD_FILES = {
  Client: "crds/jumpstarter.dev_clients.yaml",
  Exporter: "crds/jumpstarter.dev_exporters.yaml",
  Lease: "crds/jumpstarter.dev_leases.yaml",
  ExporterAccessPolicy: "crds/jumpstarter.dev_exporteraccesspolicies.yaml",
} as const;
type CrdKind = keyof typeof CRD_FILES;

const EXPORTER_STATUSES = [
  "Unspecified",
  "Offline",
  "Available",
  "BeforeLeaseHook",
  "LeaseReady",
  "AfterLeaseHook",
  "BeforeLeaseHookFailed",
  "AfterLeaseHookFailed",
];

function crd(kind: CrdKind): Manifest {
  return loadOne(CRD_FILES[kind]);
}

function rootSchema(kind: CrdKind): Schema {
  return crd(kind).spec.versions[0].schema.openAPIV3Schema;
}

/** The schema node at a dotted path ("spec.selector.matchExpressions[].operator"). */
function schemaAt(kind: CrdKind, path: string): Schema {
  let node: Schema | undefined = rootSchema(kind);
  for (const step of path.split(".")) {
    const name = step.replace(/\[\]$/, "");
    node = node?.properties?.[name];
    if (step.endsWith("[]")) node = node?.items;
    assert.ok(node, `${kind} schema has ${path} (stopped at ${step})`);
  }
  return node!;
}

function propertyNames(kind: CrdKind, path: string): string[] {
  return Object.keys(schemaAt(kind, path).properties ?? {}).sort();
}

const deployment = () => loadOne("kustomize/base/deployment.yaml");
const container = () => deployment().spec.template.spec.containers[0];

Deno.test("every YAML file under deploy/ parses and holds the expected kinds", () => {
  assert.deepEqual(yamlFiles(), Object.keys(EXPECTED_KINDS).sort());
  for (const [file, kinds] of Object.entries(EXPECTED_KINDS)) {
    assert.deepEqual(load(file).map((doc) => `${doc.apiVersion} ${doc.kind}`), kinds, file);
  }
});

Deno.test("the four CRDs are namespaced jumpstarter.dev/v1alpha1 kinds with a status subresource", () => {
  const plurals: Record<CrdKind, string> = {
    Client: "clients",
    Exporter: "exporters",
    Lease: "leases",
    ExporterAccessPolicy: "exporteraccesspolicies",
  };
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
    const { metadata, spec } = crd(kind);
    assert.equal(spec.group, "jumpstarter.dev");
    assert.equal(spec.scope, "Namespaced");
    assert.equal(spec.names.kind, kind);
    assert.equal(spec.names.plural, plurals[kind]);
    assert.equal(metadata.name, `${plurals[kind]}.jumpstarter.dev`);
    assert.equal(spec.versions.length, 1, kind);
    const [version] = spec.versions;
    assert.equal(version.name, "v1alpha1");
    assert.equal(version.served, true);
    assert.equal(version.storage, true);
    assert.deepEqual(version.subresources, { status: {} }, kind);
  }
});

Deno.test("the CRD schemas stay within the checked subset and give every field a type", () => {
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
    assert.deepEqual(schemaProblems(rootSchema(kind)), [], kind);
    // Upstream's CRDs keep no unknown fields anywhere; neither do ours.
    assert.ok(!readText(CRD_FILES[kind]).includes("preserve-unknown-fields"), kind);
  }
});

Deno.test("the Lease CRD has upstream's spec and status fields", () => {
  assert.deepEqual(propertyNames("Lease", "spec"), [
    "allowDisabled",
    "beginTime",
    "clientRef",
    "context",
    "duration",
    "endTime",
    "exporterRef",
    "release",
    "selector",
    "tags",
  ]);
  assert.deepEqual(schemaAt("Lease", "spec").required, ["clientRef"]);
  assert.deepEqual(propertyNames("Lease", "spec.clientRef"), ["name"]);
  assert.deepEqual(propertyNames("Lease", "spec.exporterRef"), ["name"]);
  assert.equal(schemaAt("Lease", "spec.duration").type, "string");
  assert.deepEqual(propertyNames("Lease", "spec.selector"), ["matchExpressions", "matchLabels"]);
  assert.deepEqual(propertyNames("Lease", "spec.selector.matchExpressions[]"), [
    "key",
    "operator",
    "values",
  ]);
  assert.deepEqual(propertyNames("Lease", "status"), [
    "beginTime",
    "conditions",
    "endTime",
    "ended",
    "exporterRef",
    "priority",
    "spotAccess",
  ]);
  assert.deepEqual(propertyNames("Lease", "status.conditions[]"), [
    "lastTransitionTime",
    "message",
    "observedGeneration",
    "reason",
    "status",
    "type",
  ]);
});

Deno.test("the Exporter CRD has upstream's fields and the eight exporterStatus names", () => {
  assert.deepEqual(propertyNames("Exporter", "spec"), ["enabled", "username"]);
  assert.deepEqual(propertyNames("Exporter", "status"), [
    "conditions",
    "credential",
    "devices",
    "endpoint",
    "exporterStatus",
    "lastSeen",
    "leaseRef",
    "statusMessage",
  ]);
  assert.deepEqual(propertyNames("Exporter", "status.devices[]"), [
    "labels",
    "parent_uuid",
    "uuid",
  ]);
  assert.deepEqual(propertyNames("Exporter", "status.leaseRef"), ["name"]);
  assert.deepEqual(propertyNames("Exporter", "status.credential"), ["name"]);
  assert.deepEqual(schemaAt("Exporter", "status.exporterStatus").enum, EXPORTER_STATUSES);
});

Deno.test("the Client and ExporterAccessPolicy CRDs have upstream's fields", () => {
  assert.deepEqual(propertyNames("Client", "spec"), ["username"]);
  assert.deepEqual(propertyNames("Client", "status"), [
    "conditions",
    "credential",
    "endpoint",
    "tokenExpiresAt",
  ]);
  assert.deepEqual(propertyNames("ExporterAccessPolicy", "spec"), [
    "exporterSelector",
    "policies",
  ]);
  assert.deepEqual(propertyNames("ExporterAccessPolicy", "spec.policies[]"), [
    "description",
    "from",
    "maximumDuration",
    "priority",
    "spotAccess",
  ]);
  assert.deepEqual(propertyNames("ExporterAccessPolicy", "spec.policies[].from[]"), [
    "clientSelector",
  ]);
  assert.deepEqual(
    propertyNames("ExporterAccessPolicy", "spec.policies[].from[].clientSelector"),
    ["matchExpressions", "matchLabels"],
  );
});

Deno.test("the CRD printer columns show fields their schemas define", () => {
  const columns = (kind: CrdKind) => crd(kind).spec.versions[0].additionalPrinterColumns ?? [];
  assert.deepEqual(columns("Lease").map((c: Manifest) => c.name), [
    "Client",
    "Exporter",
    "Ended",
    "Age",
  ]);
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
    for (const column of columns(kind)) {
      const path = column.jsonPath.replace(/^\./, "");
      if (path === "metadata.creationTimestamp") continue;
      const node = schemaAt(kind, path);
      const type = column.type === "date" ? "string" : column.type;
      assert.equal(node.type, type, `${kind} column ${column.name}`);
    }
  }
});

Deno.test("upstream-style Lease, Exporter, Client and policy objects conform to the CRDs", () => {
  const fixtures: Record<CrdKind, string> = {
    Lease: "testdata/lease.yaml",
    Exporter: "testdata/exporter.yaml",
    Client: "testdata/client.yaml",
    ExporterAccessPolicy: "testdata/exporteraccesspolicy.yaml",
  };
  for (const [kind, file] of Object.entries(fixtures) as [CrdKind, string][]) {
    assert.deepEqual(validate(rootSchema(kind), loadOne(file)), [], file);
  }
});

Deno.test("a Lease with upstream's old field names or a bad operator does not conform", () => {
  const lease = loadOne("testdata/lease.yaml");
  lease.spec.client = lease.spec.clientRef;
  delete lease.spec.clientRef;
  lease.spec.selector.matchExpressions[0].operator = "!=";
  lease.status.exporter = { name: "bench-3" };
  lease.status.conditions[0].status = true;
  delete lease.status.ended;
  assert.deepEqual(validate(rootSchema("Lease"), lease), [
    "spec.clientRef: required",
    'spec.selector.matchExpressions[0].operator: "!=" is not one of "In", "NotIn", "Exists", ' +
    '"DoesNotExist"',
    "spec.client: unknown field",
    "status.ended: required",
    "status.conditions[0].status: expected string, got boolean",
    "status.exporter: unknown field",
  ]);
  const exporter = loadOne("testdata/exporter.yaml");
  exporter.status.exporterStatus = "EXPORTER_STATUS_LEASE_READY";
  exporter.status.devices[1].parentUuid = exporter.status.devices[1].parent_uuid;
  assert.deepEqual(validate(rootSchema("Exporter"), exporter), [
    "status.devices[1].parentUuid: unknown field",
    `status.exporterStatus: "EXPORTER_STATUS_LEASE_READY" is not one of ${
      EXPORTER_STATUSES.map((s) => `"${s}"`).join(", ")
    }`,
  ]);
});

Deno.test("the kustomizations list files that exist and leave none of their folder out", () => {
  const kustomizations = yamlFiles().filter((file) => file.endsWith("kustomization.yaml"));
  assert.equal(kustomizations.length, 4);
  for (const file of kustomizations) {
    const folder = dirname(file);
    const { resources = [], patches = [] } = loadOne(file);
    const entries: string[] = [...resources, ...patches.map((p: Manifest) => p.path)];
    for (const entry of entries) {
      const target = join(DEPLOY, folder, entry);
      assert.ok(existsSync(target), `${file}: ${entry} exists`);
      if (statSync(target).isDirectory()) {
        assert.ok(existsSync(join(target, "kustomization.yaml")), `${file}: ${entry} is a base`);
      }
    }
    const siblings = readdirSync(join(DEPLOY, folder))
      .filter((name) => name.endsWith(".yaml") && name !== "kustomization.yaml");
    for (const name of siblings) assert.ok(entries.includes(name), `${file} lists ${name}`);
  }
  const base = loadOne("kustomize/base/kustomization.yaml");
  assert.equal(base.namespace, undefined, "the base sets no namespace");
  assert.ok(base.resources.includes("../../crds"));
});

Deno.test("the controller Deployment runs 2 non-root, read-only replicas with health probes", () => {
  const spec = deployment().spec;
  assert.equal(spec.replicas, 2);
  const pod = spec.template.spec;
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, 65532);
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.equal(pod.serviceAccountName, loadOne("kustomize/base/serviceaccount.yaml").metadata.name);
  assert.equal(pod.containers.length, 1);
  const c = container();
  assert.equal(c.image, "ghcr.io/jumpstarter-ts/jmp-controller:latest");
  assert.equal(c.securityContext.runAsNonRoot, true);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
  assert.deepEqual([c.livenessProbe.httpGet.path, c.livenessProbe.httpGet.port], [
    "/healthz",
    "metrics",
  ]);
  assert.deepEqual([c.readinessProbe.httpGet.path, c.readinessProbe.httpGet.port], [
    "/readyz",
    "metrics",
  ]);
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
  assert.ok(c.resources.limits.memory);
  const ports = Object.fromEntries(c.ports.map((p: Manifest) => [p.name, p.containerPort]));
  assert.deepEqual(ports, { grpc: 8082, router: 8083, metrics: 8080 });
  // A read-only root leaves only mounted volumes writable: the data folder must be one.
  const mounts = Object.fromEntries(
    c.volumeMounts.map((m: Manifest) => [m.mountPath, m.name]),
  );
  assert.equal(mounts[flag(c.args, "--data-dir")], "data");
  const selector = spec.selector.matchLabels;
  assert.deepEqual(spec.template.metadata.labels, selector);
  const budget = loadOne("kustomize/base/poddisruptionbudget.yaml");
  assert.deepEqual(budget.spec.selector.matchLabels, selector);
});

// The value after `name` in an argument list.
function flag(args: string[], name: string): string {
  const i = args.indexOf(name);
  assert.ok(i >= 0 && i + 1 < args.length, `${name} is given a value`);
  return args[i + 1];
}

Deno.test("the controller runs with the Kubernetes store in its own namespace, TLS from the Secret", () => {
  const c = container();
  assert.equal(c.args[0], "run");
  assert.equal(flag(c.args, "--store"), "kubernetes");
  assert.equal(flag(c.args, "--namespace"), "$(NAMESPACE)");
  assert.equal(flag(c.args, "--listen"), "0.0.0.0:8082");
  assert.equal(flag(c.args, "--router-listen"), "0.0.0.0:8083");
  assert.equal(flag(c.args, "--metrics-listen"), "0.0.0.0:8080");
  assert.ok(!c.args.includes("--insecure-plaintext"));
  const env = Object.fromEntries(c.env.map((e: Manifest) => [e.name, e]));
  assert.equal(env.NAMESPACE.valueFrom.fieldRef.fieldPath, "metadata.namespace");
  // $(VAR) in args only expands variables the container defines.
  for (const arg of c.args as string[]) {
    for (const [, name] of arg.matchAll(/\$\((\w+)\)/g)) assert.ok(env[name], `env ${name}`);
  }
  const tlsMount = c.volumeMounts.find((m: Manifest) => m.name === "tls");
  assert.equal(tlsMount.mountPath, "/etc/jumpstarter/tls");
  assert.equal(flag(c.args, "--tls-cert"), "/etc/jumpstarter/tls/tls.crt");
  assert.equal(flag(c.args, "--tls-key"), "/etc/jumpstarter/tls/tls.key");
  const volumes = deployment().spec.template.spec.volumes;
  const tls = volumes.find((v: Manifest) => v.name === "tls");
  assert.equal(tls.secret.secretName, "jumpstarter-controller-tls");
});

Deno.test("the Role grants every kind the controller uses, their status, secrets, leader leases and events", () => {
  const role = loadOne("kustomize/base/role.yaml");
  function allows(group: string, resource: string, verbs: string[]) {
    const missing = verbs.filter((verb) =>
      !role.rules.some((rule: Manifest) =>
        rule.apiGroups.includes(group) && rule.resources.includes(resource) &&
        rule.verbs.includes(verb)
      )
    );
    assert.deepEqual(missing, [], `${group || "core"} ${resource}`);
  }
  for (const kind of Object.keys(CRD_FILES) as CrdKind[]) {
    const plural = crd(kind).spec.names.plural;
    allows("jumpstarter.dev", plural, [
      "get",
      "list",
      "watch",
      "create",
      "update",
      "patch",
      "delete",
    ]);
    allows("jumpstarter.dev", `${plural}/status`, ["get", "update", "patch"]);
  }
  allows("", "secrets", ["get", "create", "update"]);
  allows("coordination.k8s.io", "leases", ["get", "list", "watch", "create", "update"]);
  allows("", "events", ["create"]);
  const binding = loadOne("kustomize/base/rolebinding.yaml");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "Role",
    name: role.metadata.name,
  });
  assert.deepEqual(binding.subjects, [{
    kind: "ServiceAccount",
    name: loadOne("kustomize/base/serviceaccount.yaml").metadata.name,
  }]);
});

Deno.test("the Service exposes grpc 8082, router 8083 and metrics 8080 on the pods' ports", () => {
  const service = loadOne("kustomize/base/service.yaml");
  const ports = service.spec.ports.map((p: Manifest) => [p.name, p.port, p.targetPort]);
  assert.deepEqual(ports, [
    ["grpc", 8082, "grpc"],
    ["router", 8083, "router"],
    ["metrics", 8080, "metrics"],
  ]);
  assert.deepEqual(service.spec.selector, deployment().spec.selector.matchLabels);
  assert.equal(service.metadata.name, deployment().metadata.name);
});

Deno.test("the ingress and route overlays pass TLS through to the Service and advertise their hosts", () => {
  const service = loadOne("kustomize/base/service.yaml");
  const servicePorts = service.spec.ports.map((p: Manifest) => p.name);
  const ingress = loadOne("kustomize/ingress/ingress.yaml");
  assert.equal(ingress.metadata.annotations["nginx.ingress.kubernetes.io/ssl-passthrough"], "true");
  const ingressHosts: Record<string, string> = {};
  for (const rule of ingress.spec.rules) {
    const backend = rule.http.paths[0].backend.service;
    assert.equal(backend.name, service.metadata.name);
    assert.ok(servicePorts.includes(backend.port.name), backend.port.name);
    ingressHosts[backend.port.name] = rule.host;
  }
  const routes = load("kustomize/route/route.yaml");
  const routeHosts: Record<string, string> = {};
  for (const route of routes) {
    assert.equal(route.spec.tls.termination, "passthrough");
    assert.deepEqual([route.spec.to.kind, route.spec.to.name], ["Service", service.metadata.name]);
    assert.ok(servicePorts.includes(route.spec.port.targetPort));
    routeHosts[route.spec.port.targetPort] = route.spec.host;
  }
  for (const [overlay, hosts] of [["ingress", ingressHosts], ["route", routeHosts]] as const) {
    assert.deepEqual(Object.keys(hosts).sort(), ["grpc", "router"], overlay);
    const patch = loadOne(`kustomize/${overlay}/controller-endpoints.yaml`);
    assert.equal(patch.metadata.name, deployment().metadata.name);
    const [patched] = patch.spec.template.spec.containers;
    assert.equal(patched.name, container().name);
    const env = Object.fromEntries(patched.env.map((e: Manifest) => [e.name, e.value]));
    // Passthrough on the proxy's TLS port: clients dial 443, not the pods' ports.
    assert.deepEqual(env, {
      ADVERTISE_HOST: hosts.grpc,
      ROUTER_ENDPOINT: `${hosts.router}:443`,
    }, overlay);
  }
});

Deno.test("the controller image runs /jmp-controller as uid 65532 with the Kubernetes store", () => {
  const lines = readText("Containerfile").split("\n").filter((l) => l && !l.startsWith("#"));
  assert.deepEqual(lines, [
    "FROM gcr.io/distroless/cc-debian12:nonroot",
    "COPY jmp-controller /jmp-controller",
    "USER 65532:65532",
    "EXPOSE 8082 8083 8080",
    'ENTRYPOINT ["/jmp-controller"]',
    'CMD ["run", "--store", "kubernetes"]',
  ]);
  const [, uid] = lines[2].match(/^USER (\d+)/)!;
  assert.equal(Number(uid), deployment().spec.template.spec.securityContext.runAsUser);
});

Deno.test("the systemd unit and the quadlet run `jmp-exporter run` for their instance", () => {
  const unit = readText("exporter/jmp-exporter@.service");
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/jmp-exporter run %i$/m);
  assert.match(unit, /^Restart=always$/m);
  // Hiding /dev would hide the bench's devices.
  assert.doesNotMatch(unit, /^(PrivateDevices|DevicePolicy|DeviceAllow)=/m);
  const quadlet = readText("exporter/jmp-exporter@.container");
  assert.match(quadlet, /^\[Container\]$/m);
  assert.match(quadlet, /^Exec=\/usr\/local\/bin\/jmp-exporter run %i$/m);
  assert.match(quadlet, /^Volume=\/etc\/jumpstarter:\/etc\/jumpstarter(:ro)?$/m);
  assert.match(quadlet, /^Restart=always$/m);
  const image = readText("exporter/Containerfile");
  assert.match(image, /^COPY jmp-exporter \/usr\/local\/bin\/jmp-exporter$/m);
});
