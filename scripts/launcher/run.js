'use strict';
// Node launcher for a Go task binary.
//
// The agent can only start a third-party task through a Node handler, so every packaged
// task folder holds this file as its execution target plus one Go binary per platform
// under bin/<platform>/task[.exe]. The launcher picks the binary for this machine, makes
// it executable (zip packaging drops the bit), runs it with the agent's environment and
// stdio untouched, relays cancellation and exits with the binary's exit code.
//
// In the published package the five binaries travel as one Brotli stream, bin/bundle.br,
// described by bin/bundle.json (platform, file, offset, size, sha256 of each): binaries of
// one architecture share most of their bytes, so this keeps the .vsix under the
// Marketplace's 50 MiB. On its first run on an agent the launcher unpacks this platform's
// binary to bin/<platform>/ (checked against its sha256, written atomically); later runs
// find it there.
//
// Rules this file keeps (see docs/DESIGN.md):
// - plain JavaScript, no npm dependencies, runs on Node 16, 20 and 24;
// - never imports azure-pipelines-task-lib, which deletes INPUT_*, ENDPOINT_AUTH_* and
//   SECRET_* from process.env on import — the Go binary needs them.

const fs = require('fs');
const os = require('os');
const path = require('path');
const childProcess = require('child_process');

// process.platform + '-' + process.arch -> folder under bin/. Windows on Arm runs the x64
// build emulated, so win32-arm64 shares win-x64.
const PLATFORMS = new Map([
  ['linux-x64', 'linux-x64'],
  ['linux-arm64', 'linux-arm64'],
  ['win32-x64', 'win-x64'],
  ['win32-arm64', 'win-x64'],
  ['darwin-x64', 'darwin-x64'],
  ['darwin-arm64', 'darwin-arm64'],
]);

// platformFolder returns the bin/ folder name for a Node platform and arch, or null when
// no binary is shipped for it.
function platformFolder(platform, arch) {
  return PLATFORMS.get(platform + '-' + arch) || null;
}

// binaryPath returns the path of the task binary below taskDir, or null for an
// unsupported platform.
function binaryPath(taskDir, platform, arch) {
  const folder = platformFolder(platform, arch);
  if (folder === null) {
    return null;
  }
  return path.join(taskDir, 'bin', folder, platform === 'win32' ? 'task.exe' : 'task');
}

// escapeData escapes a logging command's message the way the agent unescapes it
// (agent Command.cs): % first, then CR and LF.
function escapeData(value) {
  return String(value).replace(/%/g, '%AZP25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

// failureLines are the logging commands that fail the step with message.
function failureLines(message) {
  const text = escapeData(message);
  return '##vso[task.logissue type=error]' + text + '\n' +
    '##vso[task.complete result=Failed;]' + text + '\n';
}

// exitCode maps a child's exit to ours: its code, else 128 + the signal number, else 1.
function exitCode(code, signal) {
  if (typeof code === 'number') {
    return code;
  }
  const number = signal ? os.constants.signals[signal] : undefined;
  return typeof number === 'number' ? 128 + number : 1;
}

// extract unpacks the binary for folder from bin/bundle.br, checks it against its sha256 and
// returns its path; null when the package has no bundle. It goes into bin/<folder>/ (the
// agent's own task folder) under a random temporary name, then is renamed into place. When
// the task folder cannot be written, it goes into a fresh private folder (mkdtemp) under the
// agent's temp directory for this run only: a shared folder is never trusted, since another
// user could swap the file between check and start.
function extract(taskDir, folder, file) {
  const indexPath = path.join(taskDir, 'bin', 'bundle.json');
  if (!fs.existsSync(indexPath)) {
    return null;
  }
  const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  const entry = (index.entries || []).find((e) => e.platform === folder && e.file === file);
  if (!entry) {
    return null;
  }
  const zlib = require('zlib');
  const crypto = require('crypto');
  const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
  const all = zlib.brotliDecompressSync(fs.readFileSync(path.join(taskDir, 'bin', 'bundle.br')));
  const binary = all.subarray(entry.offset, entry.offset + entry.size);
  if (binary.length !== entry.size || sha256(binary) !== entry.sha256) {
    throw new Error('bin/bundle.br is damaged: the ' + folder + ' binary does not match its checksum');
  }
  const errors = [];
  // 1. The task folder.
  const dir = path.join(taskDir, 'bin', folder);
  const dest = path.join(dir, file);
  const temp = dest + '.' + crypto.randomBytes(8).toString('hex') + '.tmp';
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(temp, binary, { mode: 0o755, flag: 'wx' });
    try {
      fs.renameSync(temp, dest); // atomic: a concurrent run sees the whole file or none
    } catch (err) {
      // Windows cannot replace an executable another job is running (or an antivirus
      // holds): that file is as good when it is the same binary.
      if (!(fs.existsSync(dest) && sha256(fs.readFileSync(dest)) === entry.sha256)) {
        throw err;
      }
    }
    return dest;
  } catch (err) {
    errors.push(dir + ': ' + err.message);
  } finally {
    try { fs.unlinkSync(temp); } catch (ignored) { /* renamed or never written */ }
  }
  // 2. A private folder of this run, in the agent's own temp directory when it has one.
  const roots = [process.env.AGENT_TEMPDIRECTORY, os.tmpdir()].filter(Boolean);
  for (const root of roots) {
    try {
      const own = fs.mkdtempSync(path.join(root, 'pbi-task-'));
      const file2 = path.join(own, file);
      fs.writeFileSync(file2, binary, { mode: 0o700, flag: 'wx' });
      process.on('exit', () => {
        try { fs.rmSync(own, { recursive: true, force: true }); } catch (ignored) { /* best effort */ }
      });
      return file2;
    } catch (err) {
      errors.push(root + ': ' + err.message);
    }
  }
  throw new Error('cannot write the unpacked binary (' + errors.join('; ') + ')');
}

function fail(message) {
  // Synchronous, so that process.exit right after cannot drop it from a full pipe.
  fs.writeSync(1, failureLines(message));
  process.exitCode = 1;
}

function main() {
  const target = process.platform + '-' + process.arch;
  let bin = binaryPath(__dirname, process.platform, process.arch);
  if (bin === null) {
    fail('This task has no binary for platform ' + target + '. Supported: ' +
      Array.from(PLATFORMS.keys()).join(', ') + '.');
    return;
  }
  if (!fs.existsSync(bin)) {
    const folder = platformFolder(process.platform, process.arch);
    let found = null;
    try {
      found = extract(__dirname, folder, path.basename(bin));
    } catch (err) {
      fail('Could not unpack the task binary for platform ' + target + ': ' + err.message);
      return;
    }
    if (found === null) {
      fail('The task binary for platform ' + target + ' is missing: ' + bin +
        '. The extension package is incomplete.');
      return;
    }
    bin = found;
  } else if (process.platform !== 'win32') {
    try {
      fs.chmodSync(bin, 0o755);
    } catch (err) {
      // A read-only task folder may already hold an executable file; spawn reports it if not.
    }
  }

  const child = childProcess.spawn(bin, process.argv.slice(2), {
    env: process.env,
    stdio: 'inherit',
    shell: false,
    windowsHide: true,
  });

  // The agent sends SIGINT, then SIGTERM 7.5 s later. Handling both keeps node alive
  // (its default is to exit at once) so the binary can finish and report. On Windows
  // the console control event already reaches the child, and child.kill would
  // terminate it outright, so there the handlers only keep node alive.
  const relay = (signal) => {
    if (process.platform !== 'win32' && child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch (err) {
        // The child is already gone; its exit event follows.
      }
    }
  };
  process.on('SIGINT', () => relay('SIGINT'));
  process.on('SIGTERM', () => relay('SIGTERM'));

  let done = false;
  let started = false;
  child.on('spawn', () => { started = true; });
  child.on('error', (err) => {
    // After the start, an error comes from signalling the child: its exit event follows.
    if (done || started) {
      return;
    }
    done = true;
    fail('Could not start the task binary ' + bin + ': ' + err.message);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (done) {
      return;
    }
    done = true;
    process.exit(exitCode(code, signal));
  });
}

if (require.main === module) {
  main();
} else {
  module.exports = { platformFolder, binaryPath, escapeData, failureLines, exitCode, extract };
}
