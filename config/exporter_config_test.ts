import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "./errors.ts";
import { loadExporterConfig, parseExporterConfig } from "./exporter_config.ts";

const HEADER = "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\n";

const UPSTREAM = `apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata:
  namespace: default
  name: demo
endpoint: ""
token: ""
export:
  power:
    type: jumpstarter_driver_power.driver.MockPower
  board:
    type: jumpstarter_driver_composite.driver.Composite
    children:
      shell:
        type: jumpstarter_driver_shell.driver.Shell
        config:
          methods:
            hello: "echo hello"
`;

/** Writes `text` as `name` in a fresh temporary directory, runs `fn` on its path, cleans up. */
async function withFile<T>(
  name: string,
  text: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "jmp-exporter-config-"));
  try {
    const file = join(dir, name);
    writeFileSync(file, text);
    return await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Loads `text` from a temp file and returns the ConfigError message, failing if none. */
async function loadError(
  text: string,
  name = "bench.yaml",
): Promise<{ message: string; file: string }> {
  return await withFile(name, text, async (file) => {
    try {
      await loadExporterConfig(file);
    } catch (err) {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
      assert.ok(!err.message.includes("\n"), `message should be one line: ${err.message}`);
      return { message: err.message, file };
    }
    assert.fail("expected loading to fail");
  });
}

/** Asserts loading `text` fails with exactly `FILE: expected`. */
async function assertLoadError(text: string, expected: string): Promise<void> {
  const { message, file } = await loadError(text);
  assert.equal(message, `${file}: ${expected}`);
}

Deno.test("an upstream-style config loads into the typed structure", async () => {
  await withFile("demo.yaml", UPSTREAM, async (file) => {
    const config = await loadExporterConfig(file);
    assert.deepEqual(config, {
      file,
      apiVersion: "jumpstarter.dev/v1alpha1",
      kind: "ExporterConfig",
      metadata: { namespace: "default", name: "demo" },
      tls: { insecure: false },
      grpcOptions: {},
      export: {
        power: {
          path: "export.power",
          type: "jumpstarter_driver_power.driver.MockPower",
          methodsDescription: {},
          config: {},
          children: {},
        },
        board: {
          path: "export.board",
          type: "jumpstarter_driver_composite.driver.Composite",
          methodsDescription: {},
          config: {},
          children: {
            shell: {
              path: "export.board.children.shell",
              type: "jumpstarter_driver_shell.driver.Shell",
              methodsDescription: {},
              config: { methods: { hello: "echo hello" } },
              children: {},
            },
          },
        },
      },
      hooks: {},
      exitOnLeaseEnd: false,
    });
  });
});

Deno.test("every optional top-level field is read", () => {
  const config = parseExporterConfig(
    `${HEADER}metadata: {name: lab-3}
endpoint: grpc.example.com:443
token: secret
tls: {ca: /etc/ca.pem, insecure: true}
grpcOptions: {grpc.keepalive_time_ms: 20000, grpc.primary_user_agent: jmp}
description: The bench by the window
motd: Be gentle with the relay
exitOnLeaseEnd: true
failureDetection: {maxRapidFailures: 3}
hooks:
  beforeLease: {script: j power on, timeout: 30, onFailure: endLease, exec: /bin/bash}
  afterLease: {script: j power off}
export:
  power: {type: MockPower, description: Mains, methods_description: {on: Switch it on}}
`,
    "/tmp/lab.yaml",
  );
  assert.equal(config.metadata.name, "lab-3");
  assert.equal(config.endpoint, "grpc.example.com:443");
  assert.equal(config.token, "secret");
  assert.deepEqual(config.tls, { ca: "/etc/ca.pem", insecure: true });
  assert.deepEqual(config.grpcOptions, {
    "grpc.keepalive_time_ms": 20000,
    "grpc.primary_user_agent": "jmp",
  });
  assert.equal(config.description, "The bench by the window");
  assert.equal(config.motd, "Be gentle with the relay");
  assert.equal(config.exitOnLeaseEnd, true);
  assert.deepEqual(config.failureDetection, { maxRapidFailures: 3, rapidFailureWindow: 60 });
  assert.deepEqual(config.hooks, {
    beforeLease: {
      script: "j power on",
      timeoutSeconds: 30,
      onFailure: "endLease",
      exec: "/bin/bash",
    },
    afterLease: { script: "j power off", timeoutSeconds: 120, onFailure: "warn" },
  });
  assert.equal(config.export.power.description, "Mains");
  assert.deepEqual(config.export.power.methodsDescription, { on: "Switch it on" });
});

Deno.test("kind Exporter is accepted and kept as spelt", () => {
  const config = parseExporterConfig(
    "apiVersion: jumpstarter.dev/v1alpha1\nkind: Exporter\nexport:\n  power: {type: MockPower}\n",
    "/tmp/x.yaml",
  );
  assert.equal(config.kind, "Exporter");
});

Deno.test("metadata.name defaults to the file name without .yaml", () => {
  const config = parseExporterConfig(
    `${HEADER}export:\n  power: {type: MockPower}\n`,
    "/tmp/lab-7.yaml",
  );
  assert.deepEqual(config.metadata, { name: "lab-7" });
  assert.equal(config.file, "/tmp/lab-7.yaml");
});

Deno.test("a relative file name is made absolute", () => {
  const config = parseExporterConfig(`${HEADER}export:\n  power: {type: MockPower}\n`, "lab.yaml");
  assert.equal(config.file, join(Deno.cwd(), "lab.yaml"));
});

Deno.test("a bare children mapping is a composite without a type", () => {
  const config = parseExporterConfig(
    `${HEADER}export:
  board:
    description: The DUT
    children:
      serial: {type: MockSerial}
      power: {type: MockPower}
`,
    "/tmp/x.yaml",
  );
  const board = config.export.board;
  assert.equal(board.type, undefined);
  assert.equal(board.description, "The DUT");
  assert.deepEqual(Object.keys(board.children), ["serial", "power"]);
  assert.equal(board.children.serial.path, "export.board.children.serial");
});

Deno.test("children nest to any depth with their YAML paths", () => {
  const config = parseExporterConfig(
    `${HEADER}export:
  a:
    children:
      b:
        children:
          c: {type: MockPower}
`,
    "/tmp/x.yaml",
  );
  assert.equal(config.export.a.children.b.children.c.path, "export.a.children.b.children.c");
  assert.equal(config.export.a.children.b.children.c.type, "MockPower");
});

Deno.test("a ref entry keeps its target and description", () => {
  const config = parseExporterConfig(
    `${HEADER}export:
  board:
    children:
      serial: {type: MockSerial}
  console: {ref: board.serial, description: The board's console}
`,
    "/tmp/x.yaml",
  );
  assert.deepEqual(config.export.console, {
    path: "export.console",
    ref: "board.serial",
    description: "The board's console",
    methodsDescription: {},
    config: {},
    children: {},
  });
});

Deno.test("export entries keep the order of the file", () => {
  const config = parseExporterConfig(
    `${HEADER}export:
  zeta: {type: A}
  alpha: {type: B}
  mid: {type: C}
`,
    "/tmp/x.yaml",
  );
  assert.deepEqual(Object.keys(config.export), ["zeta", "alpha", "mid"]);
});

Deno.test("an export named __proto__ is an ordinary entry", () => {
  const config = parseExporterConfig(`${HEADER}export:\n  __proto__: {type: A}\n`, "/tmp/x.yaml");
  assert.deepEqual(Object.keys(config.export), ["__proto__"]);
  assert.equal(Object.getPrototypeOf(config.export), Object.prototype);
});

Deno.test("a missing file is reported as such", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-exporter-config-"));
  try {
    const file = join(dir, "absent.yaml");
    await assert.rejects(loadExporterConfig(file), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${file}: cannot read: no such file`);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("a directory in place of the file is reported as such", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jmp-exporter-config-"));
  try {
    const file = join(dir, "bench.yaml");
    mkdirSync(file);
    await assert.rejects(
      loadExporterConfig(file),
      new RegExp(`${file}: cannot read: is a directory`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("a YAML syntax error names the line and column and the parser's reason", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {type: MockPower\n`,
    "invalid YAML at 5:1: Flow map in block collection must be sufficiently indented and end with a }",
  );
});

Deno.test("a duplicate key is a YAML error at its line", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {type: A}\n  power: {type: B}\n`,
    "invalid YAML at 5:3: Map keys must be unique",
  );
});

Deno.test("an empty file says what a config needs", async () => {
  await assertLoadError(
    "# nothing yet\n",
    "is empty; an exporter config needs apiVersion, kind and export",
  );
});

Deno.test("a document that is not a mapping is rejected", async () => {
  await assertLoadError(
    "- power\n",
    "must be a mapping (apiVersion: ..., kind: ..., export: ...), got a list",
  );
});

Deno.test("apiVersion must be the one accepted value", async () => {
  await assertLoadError(
    `apiVersion: v1\nkind: ExporterConfig\nexport:\n  power: {type: A}\n`,
    'apiVersion: must be "jumpstarter.dev/v1alpha1", got "v1"',
  );
  await assertLoadError(
    `kind: ExporterConfig\nexport:\n  power: {type: A}\n`,
    'apiVersion: is required: must be "jumpstarter.dev/v1alpha1"',
  );
});

Deno.test("kind must be ExporterConfig or Exporter", async () => {
  await assertLoadError(
    `apiVersion: jumpstarter.dev/v1alpha1\nkind: ClientConfig\nexport:\n  power: {type: A}\n`,
    'kind: must be one of ExporterConfig, Exporter, got "ClientConfig"',
  );
});

Deno.test("export is required and must be a mapping (an empty one reads fine)", async () => {
  await assertLoadError(
    HEADER,
    "export: is required: the driver instances to serve, e.g. power: {type: ...}",
  );
  assert.deepEqual(parseExporterConfig(`${HEADER}export: {}\n`, "/tmp/e.yaml").export, {});
  await assertLoadError(`${HEADER}export: [power]\n`, "export: must be a mapping, got a list");
});

Deno.test("an unknown key in an export suggests the closest known one", async () => {
  const { message, file } = await loadError(`${HEADER}export:\n  power:\n    typ: MockPower\n`);
  assert.equal(
    message,
    `${file}: export.power: unknown key "typ" (did you mean "type"?); ` +
      "known keys: type, description, methods_description, config, children, ref",
  );
});

Deno.test("an unknown top-level key is reported before a missing required one", async () => {
  const { message, file } = await loadError(`${HEADER}exports:\n  power: {type: A}\n`);
  assert.ok(
    message.startsWith(`${file}: unknown key "exports" (did you mean "export"?); known keys: `),
    message,
  );
});

Deno.test("unknown keys are found in nested sections with their paths", async () => {
  const cases: [string, string][] = [
    ["metadata: {nmae: x}\n", 'metadata: unknown key "nmae" (did you mean "name"?)'],
    ["tls: {insecur: true}\n", 'tls: unknown key "insecur" (did you mean "insecure"?)'],
    [
      "hooks: {beforeLeese: {script: x}}\n",
      'hooks: unknown key "beforeLeese" (did you mean "beforeLease"?)',
    ],
    [
      "hooks: {afterLease: {script: x, timout: 3}}\n",
      'hooks.afterLease: unknown key "timout" (did you mean "timeout"?)',
    ],
    [
      "failureDetection: {maxRapidFailure: 3}\n",
      'failureDetection: unknown key "maxRapidFailure" (did you mean "maxRapidFailures"?)',
    ],
  ];
  for (const [yaml, expected] of cases) {
    const { message, file } = await loadError(`${HEADER}${yaml}export:\n  power: {type: A}\n`);
    assert.ok(message.startsWith(`${file}: ${expected}`), message);
  }
});

Deno.test("keys inside config and grpcOptions are free-form", () => {
  const config = parseExporterConfig(
    `${HEADER}grpcOptions: {anything.goes: 1}
export:
  serial: {type: A, config: {whatever: [1, 2], nested: {deep: true}}}
`,
    "/tmp/x.yaml",
  );
  assert.deepEqual(config.export.serial.config, { whatever: [1, 2], nested: { deep: true } });
  assert.deepEqual(config.grpcOptions, { "anything.goes": 1 });
});

Deno.test("an unknown key deep in children names the full path", async () => {
  const { message, file } = await loadError(
    `${HEADER}export:\n  board:\n    children:\n      serial: {type: A, confg: {}}\n`,
  );
  assert.ok(
    message.startsWith(
      `${file}: export.board.children.serial: unknown key "confg" (did you mean "config"?)`,
    ),
    message,
  );
});

Deno.test("an entry needs type, children or ref", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {description: Mains}\n`,
    'export.power: needs "type" (a driver), "children" (a composite of drivers) or "ref" (another export)',
  );
  await assertLoadError(
    `${HEADER}export:\n  power:\n`,
    'export.power: needs "type" (a driver), "children" (a composite of drivers) or "ref" (another export)',
  );
});

Deno.test("an entry written as a bare type string suggests the mapping form", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: MockPower\n`,
    'export.power: must be a mapping, got "MockPower" (did you mean "type: MockPower"?)',
  );
});

Deno.test("type must be a non-empty string", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {type: ""}\n`,
    "export.power.type: must not be empty",
  );
  await assertLoadError(
    `${HEADER}export:\n  power: {type: 3}\n`,
    "export.power.type: must be a string, got 3",
  );
});

Deno.test("type together with ref is an error", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {type: A}\n  mains: {type: B, ref: power}\n`,
    'export.mains: "ref" cannot be combined with "type": a ref entry is another export under a second name',
  );
});

Deno.test("ref together with children or config is an error", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {type: A}\n  mains: {ref: power, config: {x: 1}, children: {}}\n`,
    'export.mains: "ref" cannot be combined with "config", "children": a ref entry is another export under a second name',
  );
});

Deno.test("ref must be a non-empty string", async () => {
  await assertLoadError(
    `${HEADER}export:\n  mains: {ref: ""}\n`,
    "export.mains.ref: must not be empty",
  );
});

Deno.test("config must be a mapping", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {type: A, config: [1, 2]}\n`,
    "export.power.config: must be a mapping, got a list",
  );
  await assertLoadError(
    `${HEADER}export:\n  board:\n    children:\n      power: {type: A, config: fast}\n`,
    'export.board.children.power.config: must be a mapping, got "fast"',
  );
});

Deno.test("a composite without a type cannot have a config", async () => {
  await assertLoadError(
    `${HEADER}export:\n  board: {children: {power: {type: A}}, config: {x: 1}}\n`,
    'export.board.config: only a driver has a config: add "type" or remove "config"',
  );
});

Deno.test("children must be a mapping", async () => {
  await assertLoadError(
    `${HEADER}export:\n  board: {children: [power]}\n`,
    "export.board.children: must be a mapping, got a list",
  );
});

Deno.test("export names must not contain a dot or a slash, and say why", async () => {
  const why = 'it is one step of the paths that name drivers ("board.serial", j board serial)';
  await assertLoadError(
    `${HEADER}export:\n  power.main: {type: A}\n`,
    `export: name "power.main" must not contain "." or "/": ${why}`,
  );
  await assertLoadError(
    `${HEADER}export:\n  board:\n    children:\n      a/b: {type: A}\n`,
    `export.board.children: name "a/b" must not contain "." or "/": ${why}`,
  );
  await assertLoadError(`${HEADER}export:\n  "": {type: A}\n`, `export: a name is empty; ${why}`);
});

Deno.test("methods_description values must be strings", async () => {
  await assertLoadError(
    `${HEADER}export:\n  power: {type: A, methods_description: {on: [x]}}\n`,
    "export.power.methods_description.on: must be a string, got a list",
  );
});

Deno.test("hook fields are validated", async () => {
  const body = (hook: string) =>
    `${HEADER}hooks:\n  beforeLease: ${hook}\nexport:\n  power: {type: A}\n`;
  await assertLoadError(body("{timeout: 5}"), "hooks.beforeLease.script: is required");
  await assertLoadError(
    body("{script: x, onFailure: panic}"),
    'hooks.beforeLease.onFailure: must be one of warn, endLease, exit, got "panic"',
  );
  await assertLoadError(
    body("{script: x, timeout: 1.5}"),
    "hooks.beforeLease.timeout: must be a whole number, got 1.5",
  );
  await assertLoadError(
    body("{script: x, timeout: 0}"),
    "hooks.beforeLease.timeout: must be at least 1, got 0",
  );
});

Deno.test("scalar top-level fields are type-checked", async () => {
  const tail = "export:\n  power: {type: A}\n";
  await assertLoadError(
    `${HEADER}exitOnLeaseEnd: yes\n${tail}`,
    'exitOnLeaseEnd: must be true or false, got "yes"',
  );
  await assertLoadError(`${HEADER}endpoint: 443\n${tail}`, "endpoint: must be a string, got 443");
  await assertLoadError(
    `${HEADER}grpcOptions: {grpc.max: 1.5}\n${tail}`,
    "grpcOptions.grpc.max: must be a string or a whole number, got 1.5",
  );
  await assertLoadError(
    `${HEADER}failureDetection: {maxRapidFailures: 0}\n${tail}`,
    "failureDetection.maxRapidFailures: must be at least 1, got 0",
  );
});
