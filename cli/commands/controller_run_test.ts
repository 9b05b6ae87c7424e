import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";
import type { Context } from "../command.ts";
import { jmpController } from "../jmp-controller.ts";
import { parseRunArgs, startFromSettings } from "./controller_run.ts";

const ctx: Context = {
  root: jmpController,
  path: ["jmp-controller", "run"],
  io: { stdout: () => {}, stderr: () => {} },
  debug: false,
};

Deno.test(
  "advertised endpoints use --advertise with the bound port, and http:// when plaintext",
  withTempDir(async (dir) => {
    const settings = parseRunArgs([
      "--data-dir",
      dir,
      "--listen",
      "127.0.0.1:0",
      "--router-listen",
      "127.0.0.1:0",
      "--advertise",
      "ctl.lab.example",
      "--router-endpoint",
      "router.lab.example:443",
      "--insecure-plaintext",
    ], ctx);
    const { server, info, banner } = await startFromSettings(settings);
    try {
      const port = server.server.address.kind === "tcp" ? server.server.address.port : 0;
      assert.deepEqual(info, {
        endpoint: `http://ctl.lab.example:${port}`,
        routerEndpoint: "http://router.lab.example:443",
        ca: null,
        plaintext: true,
      });
      assert.match(
        banner,
        /^controller listening on 127\.0\.0\.1:\d+, router on 127\.0\.0\.1:\d+\n/,
      );
    } finally {
      await server.close();
    }
  }),
);

Deno.test("run's arguments are checked before anything starts", () => {
  assert.throws(() => parseRunArgs(["--advertise", "ctl:8082"], ctx), /without port/);
  assert.throws(() => parseRunArgs(["--listen", "unix:/tmp/x.sock"], ctx), /HOST:PORT/);
  assert.throws(() => parseRunArgs(["--tls-key", "k.pem"], ctx), /go together/);
  assert.throws(
    () => parseRunArgs(["--tls-cert", "c", "--tls-key", "k", "--insecure-plaintext"], ctx),
    /cannot be used with/,
  );
  assert.throws(() => parseRunArgs(["--log-level", "loud"], ctx), /--log-level must be/);
  assert.equal(parseRunArgs(["--advertise", "[fd00::1]"], ctx).advertise, "fd00::1");
  assert.throws(
    () => parseRunArgs(["--router-listen", "0.0.0.0:0"], ctx),
    /port 0 needs --router-endpoint/,
  );
  assert.equal(parseRunArgs(["--router-listen", "127.0.0.1:0"], ctx).routerListen.port, 0);
});

Deno.test("the arguments of the Kubernetes Deployment are ones run accepts", () => {
  const deployment = parse(
    readFileSync(new URL("../../deploy/kustomize/base/deployment.yaml", import.meta.url), "utf8"),
  );
  const container = deployment.spec.template.spec.containers[0];
  // The kubelet expands $(VAR) from the container's env before the binary sees the arguments.
  const env: Record<string, string> = {
    NAMESPACE: "lab",
    ADVERTISE_HOST: "ctl.example",
    ROUTER_ENDPOINT: "router.example:443",
  };
  const args = (container.args as string[]).map((a) => a.replace(/\$\((\w+)\)/g, (_, v) => env[v]));
  assert.equal(args[0], "run");
  const settings = parseRunArgs(args.slice(1), ctx);
  assert.deepEqual(settings.kubernetes, { namespace: "lab", kubeconfig: undefined });
  assert.equal(settings.tls.mode, "files");
  assert.equal(settings.advertise, "ctl.example");
  assert.equal(settings.metricsListen?.port, 8080);
});
