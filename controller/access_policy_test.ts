import { strict as assert } from "node:assert";
import { ConfigError } from "../config/mod.ts";
import { parseAccessPolicies, parseGoDuration } from "./access_policy.ts";

const MANIFEST = `
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterAccessPolicy
metadata: {name: rpi-lab, namespace: lab}
spec:
  exporterSelector:
    matchLabels: {board: rpi4}
  policies:
    - priority: 10
      description: team a, short leases
      from:
        - clientSelector: {matchLabels: {team: a}}
      maximumDuration: 1h30m
    - from:
        - clientSelector:
            matchExpressions: [{key: team, operator: Exists}]
      spotAccess: true
---
apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterAccessPolicy
metadata: {name: everything}
spec: {}
`;

Deno.test("upstream's ExporterAccessPolicy manifests are read into policies", () => {
  const [rpi, all] = parseAccessPolicies(MANIFEST, "p.yaml", "default");
  assert.equal(rpi.namespace, "lab");
  assert.deepEqual(rpi.exporterSelector, { matchLabels: { board: "rpi4" }, matchExpressions: [] });
  assert.deepEqual(rpi.policies[0], {
    description: "team a, short leases",
    priority: 10,
    from: [{ clientSelector: { matchLabels: { team: "a" }, matchExpressions: [] } }],
    maximumDurationMs: 5_400_000,
    spotAccess: false,
  });
  assert.equal(rpi.policies[1].priority, 0);
  assert.equal(rpi.policies[1].spotAccess, true);
  assert.deepEqual(rpi.policies[1].from[0].clientSelector.matchExpressions, [
    { key: "team", operator: "Exists", values: [] },
  ]);
  assert.deepEqual([all.namespace, all.name, all.policies], ["default", "everything", []]);
});

Deno.test("mistakes in a policy name the file, document and field", () => {
  const cases: [string, RegExp][] = [
    [
      "kind: Exporter\nmetadata: {name: x}",
      /^p\.yaml: kind: "Exporter" is not ExporterAccessPolicy/,
    ],
    ["kind: ExporterAccessPolicy\nmetadata: {}", /^p\.yaml: metadata\.name: is required$/],
    [
      "kind: ExporterAccessPolicy\nmetadata: {name: x}\nspec: {policies: [{maximumDuration: soon}]}",
      /^p\.yaml: spec\.policies\[0\]\.maximumDuration: "soon" is not a duration/,
    ],
    [
      "kind: ExporterAccessPolicy\nmetadata: {name: x}\nspec:\n  exporterSelector:\n" +
      "    matchExpressions: [{key: a, operator: Near}]",
      /^p\.yaml: spec\.exporterSelector: /,
    ],
    [
      "kind: ExporterAccessPolicy\nmetadata: {name: x}\n---\nkind: ExporterAccessPolicy\n" +
      "metadata: {name: y}\nspec: {policies: [{priority: high}]}",
      /^p\.yaml: document 2: spec\.policies\[0\]\.priority: must be a whole number$/,
    ],
    [
      "kind: ExporterAccessPolicy\nmetadata: {name: x}\nspec:\n  {[a, b]: c}",
      /^p\.yaml: invalid YAML at 4:4: a mapping key must be a plain value, not a list or mapping$/,
    ],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseAccessPolicies(text, "p.yaml"),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message),
      text,
    );
  }
});

Deno.test("Go durations as CRDs write them", () => {
  assert.equal(parseGoDuration("2h"), 7_200_000);
  assert.equal(parseGoDuration("1h30m"), 5_400_000);
  assert.equal(parseGoDuration("90s"), 90_000);
  assert.equal(parseGoDuration("500ms"), 500);
  assert.equal(parseGoDuration("2 hours"), undefined);
});
