// Validates Kubernetes objects (multi-document YAML on stdin, as `kubectl kustomize`
// prints them) against the Kubernetes OpenAPI schemas and the prometheus-operator CRD
// schemas, as compiled by the npm packages kubernetes-models and
// @kubernetes-models/prometheus-operator. On top of their checks (types, required
// fields, enums, formats) it rejects unknown fields, as `kubectl apply --validate=strict`
// does: a field the schema does not know is a typo that Kubernetes would drop silently.
//   kubectl kustomize deploy/base | node deploy/tools/validate.mjs
// Prints one line per object; exits 1 if any is invalid or of a kind it cannot check.
import { parseAllDocuments } from "yaml";

function modulePath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return group === "" ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

// The compiled validators read each property they know (`data.foo`) and enumerate the
// keys of maps (`for (k in data)`). A proxy records both; any key of an object that was
// neither read nor enumerated is a field the schema does not have.
function track(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const entry = { read: new Set(), enumerated: false, value };
  seen.set(path, entry);
  const children = Array.isArray(value) ? value.map((v, i) => track(v, `${path}/${i}`, seen))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v, `${path}/${k}`, seen)]));
  return new Proxy(children, {
    get(target, key, receiver) {
      if (typeof key === "string") entry.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") entry.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      entry.enumerated = true;
      return Reflect.ownKeys(target);
    },
    getOwnPropertyDescriptor(target, key) {
      entry.enumerated = true;
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
  });
}

function unknownFields(seen) {
  const out = [];
  for (const [path, entry] of seen) {
    if (Array.isArray(entry.value) || entry.enumerated) continue;
    for (const key of Object.keys(entry.value)) {
      if (!entry.read.has(key)) out.push(`${path}/${key}`);
    }
  }
  return out;
}

const input = await new Promise((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => (text += d));
  process.stdin.on("end", () => resolve(text));
});

let failed = 0;
let count = 0;
for (const doc of parseAllDocuments(input)) {
  if (doc.errors.length) {
    console.log(`YAML error: ${doc.errors.map((e) => e.message).join("; ")}`);
    failed++;
    continue;
  }
  const obj = doc.toJS();
  if (obj === null) continue;
  count++;
  const name = `${obj.kind}/${obj.metadata?.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata?.name}`;
  let Model;
  try {
    const mod = await import(modulePath(obj.apiVersion, obj.kind));
    Model = mod[obj.kind];
  } catch (e) {
    console.log(`FAIL ${name}: no schema for ${obj.apiVersion} ${obj.kind}`);
    failed++;
    continue;
  }
  const problems = [];
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(e.message);
  }
  // Again on a tracked copy, to see which fields the schema read.
  const { apiVersion, kind, ...rest } = obj;
  const seen = new Map();
  try {
    // validate() with `this` = the proxy: the model's constructor would copy it.
    Model.prototype.validate.call(track({ apiVersion, kind, ...rest }, "", seen));
  } catch {
    // Reported above.
  }
  const unknown = unknownFields(seen).filter((p) => !problems.some((m) => m.includes(p)));
  if (unknown.length) problems.push(`unknown field(s): ${unknown.join(", ")}`);
  if (problems.length) {
    console.log(`FAIL ${name}: ${problems.join("; ")}`);
    failed++;
  } else {
    console.log(`ok   ${name}`);
  }
}
console.log(`${count} objects, ${failed} invalid`);
process.exit(failed || count === 0 ? 1 : 0);
