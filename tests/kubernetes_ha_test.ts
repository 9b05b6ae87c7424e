// Two controller replicas on one API server (the in-test stand-in of tests/fixtures/kube_api,
// not a real cluster): one leads and grants leases; when it dies without handing over, the
// other takes over once its claim goes stale, and no lease and no exporter is granted twice.

import { strict as assert } from "node:assert";
import { Buffer } from "node:buffer";
import * as k8s from "@kubernetes/client-node";
import { writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type ControllerServer, startControllerServer } from "../controller/mod.ts";
import { KubernetesStore } from "../controller/store/kubernetes.ts";
import { startKubeApi } from "./fixtures/kube_api/mod.ts";
import { cliCommand } from "./fixtures/cli_processes.ts";
import { runToEnd, startUntil } from "./fixtures/processes_io.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";
import { until } from "./fixtures/wait.ts";

const NS = "lab";

// `jmp-controller run --store kubernetes` on loopback, plaintext, until it is ready.
function startKubeController(dir: string, kubeconfig: string) {
  return startUntil(
    cliCommand("jmp-controller.ts", [
      ...["run", "--store", "kubernetes", "--kubeconfig", kubeconfig, "--namespace", NS],
      ...["--data-dir", join(dir, "data"), "--insecure-plaintext", "--no-metrics"],
      ...["--listen", "127.0.0.1:0", "--router-listen", "127.0.0.1:0"],
    ]),
    process.env,
    "stdout",
    "advertised endpoint",
  );
}

function credentialOf(o: unknown): unknown {
  return (o as { status?: { credential?: unknown } } | undefined)?.status?.credential;
}

Deno.test(
  "a replica takes over from a leader that died, and no lease is granted twice",
  withTempDir(async (dir) => {
    await using api = await startKubeApi({ namespace: NS });
    const replica = (identity: string) =>
      startControllerServer({
        dataDir: join(dir, identity),
        listen: "127.0.0.1:0",
        routerListen: "127.0.0.1:0",
        kubernetes: {
          namespace: NS,
          kubeconfig: api.kubeconfig,
          identity,
          election: { leaseDurationMs: 1000, retryMs: 100 },
        },
      });
    const replicas: ControllerServer[] = [await replica("a"), await replica("b")];
    const store = KubernetesStore.connect({ kubeconfig: api.kubeconfig, namespace: NS });
    try {
      await until("a leader", () => replicas.some((r) => r.isLeader()));
      assert.equal(replicas.filter((r) => r.isLeader()).length, 1, "exactly one leads");
      // Both replicas share the token keys (a Secret): a token of one verifies on the other.
      const token = await replicas[0].controller.issuer.issueIdentityToken({
        kind: "client",
        namespace: NS,
        name: "c",
        uid: "u",
      });
      assert.equal((await replicas[1].controller.issuer.verifyIdentityToken(token)).name, "c");

      await store.createClient({ namespace: NS, name: "c", labels: {} });
      for (const name of ["e1", "e2", "e3"]) {
        await store.createExporter({ namespace: NS, name, labels: { rig: "x" } });
        await store.updateExporter(NS, name, {
          devices: [],
          lastSeen: Date.now(),
          status: "Available",
        });
      }
      const leases = Array.from({ length: 6 }, (_, i) => `l${i}`);
      for (const name of leases) {
        await store.createLease({
          namespace: NS,
          name,
          client: "c",
          selector: { matchLabels: { rig: "x" }, matchExpressions: [] },
          durationMs: 600_000,
          tags: {},
          context: {},
          allowDisabled: false,
          release: false,
        });
      }
      const granted = async () =>
        (await store.listLeases(NS, { includeEnded: true })).filter((l) => l.status.exporter);
      // The leader notices leases made elsewhere (its poll) and grants one per exporter, FIFO.
      await until("three grants", async () => (await granted()).length === 3);
      assert.deepEqual((await granted()).map((l) => l.name), ["l0", "l1", "l2"]);

      const leader = replicas.find((r) => r.isLeader())!;
      const other = replicas.find((r) => r !== leader)!;
      await leader.close({ releaseLeadership: false });
      replicas.splice(replicas.indexOf(leader), 1);
      for (const name of ["l0", "l1", "l2"]) {
        await store.endLease(NS, name, { now: Date.now(), conditions: [] });
      }
      await until("the other replica leading", () => other.isLeader(), { ms: 5000 });
      await until("the next three grants", async () => (await granted()).length === 6);
      const all = await store.listLeases(NS, { includeEnded: true });
      const active = all.filter((l) => l.status.exporter && !l.status.ended);
      assert.deepEqual(active.map((l) => l.name).sort(), ["l3", "l4", "l5"]);
      assert.equal(new Set(active.map((l) => l.status.exporter)).size, 3, "one lease per exporter");
    } finally {
      for (const r of replicas) await r.close();
    }
  }),
);

Deno.test(
  "jmp-controller run --store kubernetes serves from custom resources, and says where",
  withTempDir(async (dir) => {
    await using api = await startKubeApi({ namespace: NS });
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, api.kubeconfig);
    const controller = await startKubeController(dir, kubeconfig);
    try {
      assert.match(controller.output, /\nstate: custom resources in Kubernetes namespace lab\n/);
      // It shares its token keys through a Secret and takes part in the election.
      await until(
        "the keys Secret",
        () => api.object("secrets", NS, "jumpstarter-controller-keys") !== undefined,
      );
      await until(
        "the election lease",
        () => api.objects("leases.coordination.k8s.io", NS).length === 1,
      );
      const bad = await runToEnd(
        cliCommand("jmp-controller.ts", ["run", "--store", "etcd", "--insecure-plaintext"]),
        process.env,
      );
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--store must be sqlite or kubernetes, not "etcd"/);
    } finally {
      await controller.stop();
    }
  }),
);

Deno.test(
  "jmp admin --store kubernetes registers and lists identities in the cluster's namespace",
  withTempDir(async (dir) => {
    await using api = await startKubeApi({ namespace: NS });
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, api.kubeconfig);
    const kube = ["--store", "kubernetes", "--kubeconfig", kubeconfig, "-n", NS];
    const admin = (args: string[]) =>
      runToEnd(cliCommand("jmp.ts", ["admin", ...args, ...kube]), {
        ...process.env,
        HOME: join(dir, "home"),
        XDG_CONFIG_HOME: join(dir, "xdg"),
        // Deno's cache stays where it is when HOME moves.
        DENO_DIR: process.env.DENO_DIR ?? join(homedir(), ".cache", "deno"),
      });
    const early = await admin(["get", "exporters"]);
    assert.equal(early.code, 1);
    assert.match(
      early.stderr,
      /^error: no controller in Kubernetes namespace lab .*jmp-controller run --store kubernetes/,
    );
    const controller = await startKubeController(dir, kubeconfig);
    try {
      const made = await admin(["create", "exporter", "bench", "-l", "board=rpi4"]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /endpoint: http:\/\/127\.0\.0\.1:\d+\n/);
      const exporter = api.object("exporters.jumpstarter.dev", NS, "bench");
      assert.deepEqual(exporter?.metadata.labels, { board: "rpi4" });
      const listed = await admin(["get", "exporters", "-o", "name"]);
      assert.equal(listed.stdout, "bench\n");
      assert.equal((await admin(["delete", "exporter", "bench"])).code, 0);
      assert.equal(api.object("exporters.jumpstarter.dev", NS, "bench"), undefined);
    } finally {
      await controller.stop();
    }
  }),
);

Deno.test(
  "a Client made with kubectl gets its token in a Secret, named in its status, as upstream's",
  withTempDir(async (dir) => {
    await using api = await startKubeApi({ namespace: NS });
    const server = await startControllerServer({
      dataDir: join(dir, "data"),
      listen: "127.0.0.1:0",
      routerListen: "127.0.0.1:0",
      kubernetes: {
        namespace: NS,
        kubeconfig: api.kubeconfig,
        identity: "only",
        election: { leaseDurationMs: 1000, retryMs: 100 },
      },
    });
    try {
      await until("leading", () => server.isLeader());
      const config = new k8s.KubeConfig();
      config.loadFromString(api.kubeconfig);
      await config.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
        group: "jumpstarter.dev",
        version: "v1alpha1",
        namespace: NS,
        plural: "clients",
        body: {
          apiVersion: "jumpstarter.dev/v1alpha1",
          kind: "Client",
          metadata: { name: "alice", namespace: NS },
          spec: {},
        },
      });
      await until(
        "a credential",
        () => credentialOf(api.object("clients.jumpstarter.dev", NS, "alice")) !== undefined,
      );
      const client = api.object("clients.jumpstarter.dev", NS, "alice")!;
      assert.deepEqual(credentialOf(client), { name: "alice-client" });
      const secret = api.object("secrets", NS, "alice-client")!;
      const owners = secret.metadata.ownerReferences as { uid?: string }[] | undefined;
      assert.equal(owners?.[0]?.uid, client.metadata.uid);
      const token = Buffer.from(
        String((secret as { data?: { token?: string } }).data?.token),
        "base64",
      )
        .toString("utf8");
      const claims = await server.controller.issuer.verifyIdentityToken(token, "client");
      assert.deepEqual([claims.namespace, claims.name, claims.uid], [
        NS,
        "alice",
        client.metadata.uid,
      ]);
    } finally {
      await server.close();
    }
  }),
);
