'use strict';
// Node launcher for a Go task binary.
//
// The agent can only start a third-party task through a Node handler, so every packaged
// task folder holds this file as its execution target plus one Go binary per platform
// under bin/<platform>/task[.exe]. The launcher picks the binary for this machine, makes
// it executable (zip packaging drops the bit), runs it with the agent's environment and
// stdio untouched, relays cancellation and exits with the binary's exit code.
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

function fail(message) {
  process.stdout.write(failureLines(message));
  process.exitCode = 1;
}

function main() {
  const target = process.platform + '-' + process.arch;
  const bin = binaryPath(__dirname, process.platform, process.arch);
  if (bin === null) {
    fail('This task has no binary for platform ' + target + '. Supported: ' +
      Array.from(PLATFORMS.keys()).join(', ') + '.');
    return;
  }
  if (!fs.existsSync(bin)) {
    fail('The task binary for platform ' + target + ' is missing: ' + bin +
      '. The extension package is incomplete.');
    return;
  }
  if (process.platform !== 'win32') {
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
  child.on('error', (err) => {
    if (done) {
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
  module.exports = { platformFolder, binaryPath, escapeData, failureLines, exitCode };
}
