'use strict';
// Validates the committed manifests against the reference JSON schemas in ../shared/specs:
// every tasks/*/task.json against the official task schema (draft-04, so ajv-draft-04),
// and vss-extension.json against the SchemaStore schema (draft-07). Then checks what the
// schemas cannot: that the extension manifest packages and contributes every task folder,
// and that the service connection type matches the tasks' connectedService inputs.
// Skips a schema check, saying why, when ../shared/specs is not beside the repository.
// With PBI_STAGED set to a staged extension (make test sets dist/check), the staged manifest
// and task.json files are validated too — they carry the written version and publisher —
// and tfx-cli must pack the staged folder without a warning.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');

const Ajv04 = require('ajv-draft-04');
const Ajv07 = require('ajv');
const addFormats = require('ajv-formats');

const ROOT = path.resolve(__dirname, '..', '..');
const STAGED = process.env.PBI_STAGED ? path.resolve(process.env.PBI_STAGED) : '';
const stagedSkip = STAGED ? false : 'PBI_STAGED is not set (make test sets it to the five-platform build)';
const SPECS = path.resolve(ROOT, '..', 'shared', 'specs');
const ENDPOINT_TYPE = 'PowerBIDeploymentPipelines';

function readJSON(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function taskFolders(root = ROOT) {
  return fs.readdirSync(path.join(root, 'tasks'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, 'tasks', e.name, 'task.json')))
    .map((e) => e.name)
    .sort();
}

// validator compiles a spec schema, or returns a skip reason when the spec is absent.
function validator(Ajv, file) {
  const schemaPath = path.join(SPECS, file);
  if (!fs.existsSync(schemaPath)) {
    return { skip: 'reference schema ' + schemaPath + ' not found (../shared/specs is not beside the repository)' };
  }
  // strict: false because both schemas carry keywords ajv's strict mode rejects (e.g. a
  // "type" next to "anyOf", "examples" in draft-04); they are annotations, not rules.
  // unicodeRegExp: false because the task schema's pattern ^connectedService\:.+$ escapes
  // a colon, which JSON Schema regexes (ECMA 262, no u flag) allow.
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats(ajv);
  return { validate: ajv.compile(readJSON(schemaPath)) };
}

function explain(validate) {
  return (validate.errors || []).map((e) => e.instancePath + ' ' + e.message + ' ' + JSON.stringify(e.params)).join('\n');
}

const tasksSchema = validator(Ajv04, 'tasks.schema.json');
for (const folder of taskFolders()) {
  test('tasks/' + folder + '/task.json matches tasks.schema.json', { skip: tasksSchema.skip }, () => {
    const doc = readJSON(path.join(ROOT, 'tasks', folder, 'task.json'));
    assert.ok(tasksSchema.validate(doc), explain(tasksSchema.validate));
  });
}

test('every staged task.json matches tasks.schema.json', { skip: stagedSkip || tasksSchema.skip }, () => {
  const folders = taskFolders(STAGED);
  assert.deepStrictEqual(folders, taskFolders());
  for (const folder of folders) {
    const doc = readJSON(path.join(STAGED, 'tasks', folder, 'task.json'));
    assert.ok(tasksSchema.validate(doc), folder + ': ' + explain(tasksSchema.validate));
  }
});

test('the task schema validator rejects a broken task.json', { skip: tasksSchema.skip }, () => {
  const doc = readJSON(path.join(ROOT, 'tasks', taskFolders()[0], 'task.json'));
  doc.inputs[0].name = 'not valid';
  doc.execution.Process = { target: 'task.exe' };
  assert.ok(!tasksSchema.validate(doc));
});

const manifestSchema = validator(Ajv07, 'vss-extension.schemastore.json');
test('vss-extension.json matches the SchemaStore schema', { skip: manifestSchema.skip }, () => {
  const doc = readJSON(path.join(ROOT, 'vss-extension.json'));
  assert.ok(manifestSchema.validate(doc), explain(manifestSchema.validate));
});

test('the staged vss-extension.json matches the SchemaStore schema', { skip: stagedSkip || manifestSchema.skip }, () => {
  const doc = readJSON(path.join(STAGED, 'vss-extension.json'));
  assert.ok(manifestSchema.validate(doc), explain(manifestSchema.validate));
});

test('staged tasks carry the extension version and ids of their own', { skip: stagedSkip }, () => {
  const manifest = readJSON(path.join(STAGED, 'vss-extension.json'));
  const ids = new Map();
  for (const folder of taskFolders(STAGED)) {
    const task = readJSON(path.join(STAGED, 'tasks', folder, 'task.json'));
    const v = task.version;
    assert.strictEqual([v.Major, v.Minor, v.Patch].join('.'), manifest.version, folder);
    assert.match(task.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, folder);
    assert.ok(!ids.has(task.id), folder + ' has the id of ' + ids.get(task.id));
    ids.set(task.id, folder);
  }
});

test('tfx-cli packs the staged extension without a warning', { skip: stagedSkip }, () => {
  const out = fs.mkdtempSync(path.join(require('os').tmpdir(), 'tfx-check-'));
  try {
    const tfx = path.join(ROOT, 'node_modules', 'tfx-cli', '_build', 'tfx-cli.js');
    const res = require('child_process').spawnSync(process.execPath, [tfx, 'extension', 'create', '--root', STAGED,
      '--manifest-globs', 'vss-extension.json', '--output-path', out, '--no-prompt', '--no-color'], { encoding: 'utf8' });
    const log = res.stdout + res.stderr;
    assert.strictEqual(res.status, 0, log);
    assert.doesNotMatch(log, /warn/i);
    const manifest = readJSON(path.join(STAGED, 'vss-extension.json'));
    assert.deepStrictEqual(fs.readdirSync(out), [manifest.publisher + '.' + manifest.id + '-' + manifest.version + '.vsix']);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('vss-extension.json packages and contributes every task folder', () => {
  const doc = readJSON(path.join(ROOT, 'vss-extension.json'));
  const files = doc.files.map((f) => f.path);
  const contributed = doc.contributions
    .filter((c) => c.type === 'ms.vss-distributed-task.task')
    .map((c) => {
      assert.deepStrictEqual(c.targets, ['ms.vss-distributed-task.tasks'], c.id);
      return c.properties.name;
    });
  const expected = taskFolders().map((f) => 'tasks/' + f);
  assert.deepStrictEqual(contributed.slice().sort(), expected);
  assert.deepStrictEqual(files.filter((p) => p.startsWith('tasks/')).sort(), expected);

  const ids = doc.contributions.map((c) => c.id);
  assert.strictEqual(new Set(ids).size, ids.length, 'contribution ids are unique');
  for (const p of files.concat([doc.icons.default, doc.content.details.path])) {
    assert.ok(fs.existsSync(path.join(ROOT, p)), p + ' is listed but missing');
  }
});

test('the service connection type serves the tasks and the contract', () => {
  const doc = readJSON(path.join(ROOT, 'vss-extension.json'));
  const endpoints = doc.contributions.filter((c) => c.type === 'ms.vss-endpoint.service-endpoint-type');
  assert.strictEqual(endpoints.length, 1);
  const ep = endpoints[0];
  assert.deepStrictEqual(ep.targets, ['ms.vss-endpoint.endpoint-types']);
  assert.strictEqual(ep.properties.name, ENDPOINT_TYPE);
  assert.strictEqual(ep.properties.displayName, 'Power BI (deployment pipelines)');
  assert.ok(ep.properties.helpMarkDown.length > 200);

  for (const folder of taskFolders()) {
    const task = readJSON(path.join(ROOT, 'tasks', folder, 'task.json'));
    const conn = task.inputs.find((i) => i.name === 'pbiConnection');
    assert.strictEqual(conn.type, 'connectedService:' + ENDPOINT_TYPE, folder);
  }

  const env = ep.properties.inputDescriptors.find((i) => i.id === 'environment');
  assert.strictEqual(env.values.defaultValue, 'Public');
  const envs = env.values.possibleValues.map((v) => v.value);
  assert.deepStrictEqual(envs, ['Public', 'USGov', 'USGovHigh', 'USGovMil', 'China', 'Custom']);

  // CONTRACT §1: the API base per cloud. Custom takes its URL from apiUrl.
  const url = ep.properties.url;
  assert.strictEqual(url.dependsOn.input, 'environment');
  assert.deepStrictEqual(Object.fromEntries(url.dependsOn.map.map((m) => [m.key, m.value])), {
    Public: 'https://api.powerbi.com/',
    USGov: 'https://api.powerbigov.us/',
    USGovHigh: 'https://api.high.powerbigov.us/',
    USGovMil: 'https://api.mil.powerbigov.us/',
    China: 'https://api.powerbi.cn/',
    Custom: '',
  });
  for (const id of ['apiUrl', 'authorityHost', 'resource']) {
    const input = ep.properties.inputDescriptors.find((i) => i.id === id);
    assert.ok(input, id);
    assert.deepStrictEqual(input.dependencyInputIds, ['environment'], id);
    assert.strictEqual(input.validation.isRequired, false, id);
  }
  const ids = ep.properties.inputDescriptors.map((i) => i.id);
  assert.ok(ids.includes('clientId'), 'endpoint data clientId');

  const schemes = Object.fromEntries(ep.properties.authenticationSchemes.map((s) => [
    s.type.replace('ms.vss-endpoint.endpoint-auth-scheme-', ''),
    s.inputDescriptors.map((i) => i.id),
  ]));
  assert.deepStrictEqual(schemes, {
    'workload-identity-federation': ['tenantid', 'serviceprincipalid'],
    'service-principal': ['tenantid', 'serviceprincipalid', 'authenticationType', 'serviceprincipalkey',
      'servicePrincipalCertificate', 'sendX5c'],
    'managed-service-identity': [],
    basic: ['username', 'password'],
  });
  // Auth inputs default to confidential on the server; only secrets may be.
  const secret = new Set(['serviceprincipalkey', 'servicePrincipalCertificate', 'password']);
  for (const s of ep.properties.authenticationSchemes) {
    for (const i of s.inputDescriptors) {
      assert.strictEqual(i.isConfidential, secret.has(i.id), s.type + ' ' + i.id + ' isConfidential');
    }
  }
});
