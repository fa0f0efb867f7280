'use strict';
// Tests for run.js: the pure platform resolution, then the launcher as a real process
// next to a stand-in task binary (a shell script; the launcher does not care what the
// binary is written in).

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const childProcess = require('child_process');

const launcher = require('./run.js');

const RUN_JS = path.join(__dirname, 'run.js');

test('platformFolder maps supported platforms and rejects the rest', () => {
  const cases = [
    ['linux', 'x64', 'linux-x64'],
    ['linux', 'arm64', 'linux-arm64'],
    ['win32', 'x64', 'win-x64'],
    ['win32', 'arm64', 'win-x64'], // emulated x64 on Windows on Arm
    ['darwin', 'x64', 'darwin-x64'],
    ['darwin', 'arm64', 'darwin-arm64'],
    ['linux', 'ia32', null],
    ['linux', 'arm', null],
    ['win32', 'ia32', null],
    ['freebsd', 'x64', null],
    ['constructor', '', null], // no prototype lookups
  ];
  for (const [platform, arch, want] of cases) {
    assert.strictEqual(launcher.platformFolder(platform, arch), want, platform + '-' + arch);
  }
});

test('binaryPath adds .exe on Windows only', () => {
  assert.strictEqual(launcher.binaryPath('/t', 'linux', 'x64'), path.join('/t', 'bin', 'linux-x64', 'task'));
  assert.strictEqual(launcher.binaryPath('/t', 'darwin', 'arm64'), path.join('/t', 'bin', 'darwin-arm64', 'task'));
  assert.strictEqual(launcher.binaryPath('/t', 'win32', 'arm64'), path.join('/t', 'bin', 'win-x64', 'task.exe'));
  assert.strictEqual(launcher.binaryPath('/t', 'freebsd', 'x64'), null);
});

test('escapeData follows the agent escaping rules', () => {
  assert.strictEqual(launcher.escapeData('100% a\r\nb'), '100%AZP25 a%0D%0Ab');
  assert.strictEqual(launcher.escapeData('%0A'), '%AZP250A'); // % first, so no double meaning
});

test('failureLines log an error and complete the task as Failed', () => {
  assert.strictEqual(launcher.failureLines('x\ny'),
    '##vso[task.logissue type=error]x%0Ay\n##vso[task.complete result=Failed;]x%0Ay\n');
});

test('exitCode prefers the code, then 128+signal, then 1', () => {
  assert.strictEqual(launcher.exitCode(0, null), 0);
  assert.strictEqual(launcher.exitCode(3, null), 3);
  assert.strictEqual(launcher.exitCode(null, 'SIGTERM'), 128 + os.constants.signals.SIGTERM);
  assert.strictEqual(launcher.exitCode(null, 'SIGKILL'), 128 + os.constants.signals.SIGKILL);
  assert.strictEqual(launcher.exitCode(null, 'SIGNOPE'), 1);
  assert.strictEqual(launcher.exitCode(null, null), 1);
});

// The process tests need a POSIX shell as the stand-in binary.
const posix = process.platform !== 'win32' && launcher.platformFolder(process.platform, process.arch) !== null;

// taskFolder lays out a packaged task: run.js and, when script is given, the binary for
// this platform, written WITHOUT the executable bit so the launcher's chmod is exercised.
function taskFolder(t, script) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'launcher-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.copyFileSync(RUN_JS, path.join(dir, 'run.js'));
  if (script !== undefined) {
    const bin = launcher.binaryPath(dir, process.platform, process.arch);
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    fs.writeFileSync(bin, '#!/bin/sh\n' + script + '\n', { mode: 0o644 });
  }
  return dir;
}

// start runs the launcher of dir and collects its output; done resolves on exit. The launcher
// leads a process group of its own, which t.after kills: a stand-in binary left behind would
// hold the output pipes open and hang the test run.
function start(t, dir, args, env) {
  const proc = childProcess.spawn(process.execPath, [path.join(dir, 'run.js')].concat(args || []), {
    env: Object.assign({}, process.env, env || {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.after(() => {
    try { process.kill(-proc.pid, 'SIGKILL'); } catch (err) { /* all gone */ }
  });
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (d) => { out.stdout += d; });
  proc.stderr.on('data', (d) => { out.stderr += d; });
  const done = new Promise((resolve) => {
    proc.on('close', (code, signal) => resolve(Object.assign(out, { code, signal })));
  });
  return { proc, out, done };
}

// finished resolves to the launcher's output once its pipes close, and rejects when they are
// still open ms later: something the launcher started is still running (and holds them).
// Either way it kills the launcher's process group, so that nothing is left to hang the run.
async function finished(run, ms) {
  let timer;
  try {
    return await Promise.race([run.done, new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('the binary outlived the launcher: output still open after ' + ms + ' ms')), ms);
    })]);
  } finally {
    clearTimeout(timer);
    try { process.kill(-run.proc.pid, 'SIGKILL'); } catch (err) { /* all gone */ }
  }
}

test('passes the agent environment and arguments through', { skip: !posix }, async (t) => {
  const dir = taskFolder(t, 'echo "in=$INPUT_FOO auth=$ENDPOINT_AUTH_X secret=$SECRET_Y args=$*"');
  const res = await start(t, dir, ['a', 'b c'], {
    INPUT_FOO: 'foo', ENDPOINT_AUTH_X: '{"scheme":"x"}', SECRET_Y: 's3cret',
  }).done;
  assert.strictEqual(res.code, 0, res.stderr);
  assert.strictEqual(res.stdout, 'in=foo auth={"scheme":"x"} secret=s3cret args=a b c\n');
  const bin = launcher.binaryPath(dir, process.platform, process.arch);
  assert.strictEqual(fs.statSync(bin).mode & 0o777, 0o755);
});

test('exits with the binary exit code', { skip: !posix }, async (t) => {
  for (const code of [0, 1, 3, 42]) {
    const res = await start(t, taskFolder(t, 'exit ' + code)).done;
    assert.strictEqual(res.code, code, res.stderr);
  }
});

test('a binary killed by a signal exits 128+signo', { skip: !posix }, async (t) => {
  const res = await start(t, taskFolder(t, 'kill -TERM $$')).done;
  assert.strictEqual(res.code, 128 + os.constants.signals.SIGTERM, res.stderr);
});

test('forwards SIGINT and waits for the binary to finish', { skip: !posix, timeout: 60000 }, async (t) => {
  const dir = taskFolder(t, [
    "trap 'echo interrupted; exit 130' INT",
    'echo ready',
    'while :; do sleep 0.05; done',
  ].join('\n'));
  const run = start(t, dir);
  await new Promise((resolve) => {
    run.proc.stdout.on('data', () => {
      if (run.out.stdout.includes('ready')) {
        resolve();
      }
    });
  });
  run.proc.kill('SIGINT'); // the launcher only, as the agent does
  const res = await finished(run, 20000);
  assert.strictEqual(res.stdout, 'ready\ninterrupted\n');
  assert.strictEqual(res.code, 130, res.stderr);
  assert.strictEqual(res.signal, null, 'node must not die of the signal');
});

// Whenever the agent's SIGINT comes, from node's start on, the launcher never leaves the binary
// running without it: either the binary never starts or the launcher waits for it. (Before the
// launcher's handlers were in place ahead of the start, a signal just after the start ended
// node and left the binary running on its own.)
test('a SIGINT at any moment never leaves the binary running alone', { skip: !posix, timeout: 120000 }, async (t) => {
  const outcomes = new Map();
  for (let i = 0; i < 24; i++) {
    const dir = taskFolder(t, [
      "trap 'echo interrupted; exit 130' INT",
      'echo $$ > "$(dirname "$0")/pid"',
      'echo ready',
      'while :; do sleep 0.05; done',
    ].join('\n'));
    const run = start(t, dir);
    const exited = new Promise((resolve) => run.proc.on('exit', (code, signal) => resolve({ code, signal })));
    await new Promise((resolve) => setTimeout(resolve, i * 6));
    run.proc.kill('SIGINT');
    const res = await exited;
    // Node's own default, before the handlers exist, is to die of the signal.
    assert.ok(res.code === 130 || res.signal === 'SIGINT', JSON.stringify(res));
    const out = (await finished(run, 5000)).stdout;
    const pidFile = path.join(path.dirname(launcher.binaryPath(dir, process.platform, process.arch)), 'pid');
    let key = 'node ended by the signal';
    if (!res.signal && out === 'The task was cancelled before it started.\n') {
      key = 'cancelled before the start';
      assert.ok(!fs.existsSync(pidFile), 'a cancelled start runs nothing');
    } else if (!res.signal) {
      key = 'binary interrupted';
      assert.match(out, /^(ready\n)?(interrupted\n)?$/); // nothing when it came before the trap
    }
    outcomes.set(key, (outcomes.get(key) || 0) + 1);
  }
  t.diagnostic(JSON.stringify(Object.fromEntries(outcomes)));
});

test('a missing binary fails the task with a logging command', { skip: process.platform === 'win32' }, async (t) => {
  const res = await start(t, taskFolder(t)).done;
  assert.strictEqual(res.code, 1);
  const folder = launcher.platformFolder(process.platform, process.arch);
  const lines = res.stdout.trimEnd().split('\n');
  assert.strictEqual(lines.length, 2, res.stdout);
  assert.match(lines[0], /^##vso\[task\.logissue type=error\]The task binary for platform /);
  assert.ok(lines[0].includes(path.join('bin', folder, 'task')), lines[0]);
  assert.match(lines[1], /^##vso\[task\.complete result=Failed;\]/);
});
