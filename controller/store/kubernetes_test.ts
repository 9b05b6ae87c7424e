// The Kubernetes store against the in-test API server (tests/fixtures/kube_api: the REST
// semantics the store uses, not a real cluster): the conformance suite every store passes, and
// what is particular to custom resources.

import { strict as assert } from "node:assert";
import { startKubeApi } from "../../tests/fixtures/kube_api/mod.ts";
import { storeConformance } from "./conformance.ts";
import { KubernetesStore, LEASE_ENDED_LABEL } from "./kubernetes.ts";

// deno-lint-ignore no-explicit-any
type Resource = Record<string, any>;

storeConformance("kubernetes", async () => {
  const api = await startKubeApi();
  const open = () =>
    Promise.resolve(KubernetesStore.connect({ kubeconfig: api.kubeconfig, namespace: "lab" }));
  return { open, openSibling: open, close: () => api.close() };
});

Deno.test("kubernetes store: records are upstream's custom resources, ended leases labelled", async () => {
  const api = await startKubeApi();
  try {
    const store = KubernetesStore.connect({ kubeconfig: api.kubeconfig, namespace: "lab" });
    await store.createClient({ namespace: "lab", name: "alice", labels: {} });
    await store.createExporter({ namespace: "lab", name: "bench", labels: { board: "rpi4" } });
    await store.updateExporter("lab", "bench", {
      devices: [],
      lastSeen: Date.now(),
      status: "Available",
    });
    await store.createLease({
      namespace: "lab",
      name: "l1",
      client: "alice",
      selector: { matchLabels: { board: "rpi4" }, matchExpressions: [] },
      durationMs: 90_000,
      tags: {},
      context: {},
      allowDisabled: false,
      release: false,
    });
    const now = Date.now();
    assert.ok(
      await store.grantLease("lab", "l1", "bench", {
        now,
        priority: 0,
        spotAccess: false,
        conditions: [],
      }),
    );
    const lease = api.object("leases.jumpstarter.dev", "lab", "l1") as Resource;
    assert.equal(lease.apiVersion, "jumpstarter.dev/v1alpha1");
    assert.equal(lease.kind, "Lease");
    assert.deepEqual(lease.spec.clientRef, { name: "alice" });
    assert.equal(lease.spec.duration, "90s");
    assert.deepEqual(lease.spec.selector.matchLabels, { board: "rpi4" });
    assert.deepEqual(lease.status.exporterRef, { name: "bench" });
    const exporter = api.object("exporters.jumpstarter.dev", "lab", "bench") as Resource;
    assert.deepEqual(exporter.status.leaseRef, { name: "l1" });
    assert.equal(exporter.status.exporterStatus, "Available");
    await store.endLease("lab", "l1", { now, conditions: [] });
    const ended = api.object("leases.jumpstarter.dev", "lab", "l1") as Resource;
    assert.equal(ended.metadata.labels[LEASE_ENDED_LABEL], "true");
    assert.equal(ended.status.ended, true);
    assert.equal(
      (api.object("exporters.jumpstarter.dev", "lab", "bench") as Resource).status
        .leaseRef,
      undefined,
    );
  } finally {
    await api.close();
  }
});

Deno.test("kubernetes store: watch tells about changes another store made, until stopped", async () => {
  const api = await startKubeApi();
  try {
    const watching = KubernetesStore.connect({ kubeconfig: api.kubeconfig, namespace: "lab" });
    const writer = KubernetesStore.connect({ kubeconfig: api.kubeconfig, namespace: "lab" });
    let changes = 0;
    const stop = watching.watch("lab", () => changes++);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await writer.createExporter({ namespace: "lab", name: "bench", labels: {} });
    await writer.updateExporter("lab", "bench", { status: "Available" });
    const deadline = Date.now() + 5000;
    while (changes < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(changes >= 2, `saw ${changes} changes`);
    stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const seen = changes;
    await writer.updateExporter("lab", "bench", { status: "Offline" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(changes, seen, "nothing after stop");
    await watching.close();
  } finally {
    await api.close();
  }
});
