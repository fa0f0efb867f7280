'use strict';
// Node launcher for a Go task binary.
//
// The agent can only start a third-party task through a Node handler, so every packaged
// task folder holds this file as its execution target plus one Go binary per platform
// under bin/<platform>/task[.exe]. The launcher picks the binary for this machine, makes
// it executable (zip packaging drops the bit), runs it with the agent's environment and
// stdio untouched, relays cancellation and exits with the binary's exit code.
//
// In the published package the five binaries travel as one large-window Brotli stream,
// bin/bundle.br, described by bin/bundle.json: the linux binary of each architecture stored
// whole (with its call targets made absolute, which compresses better) and the darwin and
// windows binaries as bsdiff-style patches against it — Go binaries of one architecture share
// most of their code. That keeps seven tasks x five platforms under 35 MiB. On its first run on
// an agent the launcher unpacks this platform's binary to bin/<platform>/ (checked against its
// sha256, written to a temporary name and renamed); later runs find it there with one stat.
//
// Rules this file keeps (see docs/DESIGN.md):
// - plain JavaScript, no npm dependencies, runs on Node 20 and 24 (the task.json handlers);
// - never imports azure-pipelines-task-lib, which deletes INPUT_*, ENDPOINT_AUTH_* and
//   SECRET_* from process.env on import — the Go binary needs them.

const fs = require('fs');
const os = require('os');
const path = require('path');
const childProcess = require('child_process');

// The bin/bundle.json format this launcher reads (bundleFormat in scripts/package/bundle.go).
const BUNDLE_FORMAT = 2;

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

// readIndex returns bin/bundle.json of the task folder, or null when there is none.
function readIndex(taskDir) {
  const indexPath = path.join(taskDir, 'bin', 'bundle.json');
  if (!fs.existsSync(indexPath)) {
    return null;
  }
  const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  if (index.format !== BUNDLE_FORMAT) {
    throw new Error('bin/bundle.json has format ' + index.format + '; this launcher reads format ' + BUNDLE_FORMAT);
  }
  return index;
}

// unfilter undoes the packager's branch filter (filterX86 and filterARM64 in
// scripts/package/bcj.go, which this mirrors) on code, a Buffer, in place.
function unfilter(code, kind) {
  if (kind === 'x86') {
    // Every E8 (CALL) or E9 (JMP) byte, skipping the operand of each: rel32 = abs - (i + 5).
    for (let i = 0; i + 5 <= code.length;) {
      if (code[i] !== 0xE8 && code[i] !== 0xE9) {
        i++;
        continue;
      }
      code.writeUInt32LE((code.readUInt32LE(i + 1) - (i + 5)) >>> 0, i + 1);
      i += 5;
    }
  } else if (kind === 'arm64') {
    for (let i = 0; i + 4 <= code.length; i += 4) {
      const w = code.readUInt32LE(i);
      if (w >>> 26 === 0x25) { // BL: imm26 in words
        code.writeUInt32LE((0x94000000 | ((w - (i >>> 2)) & 0x03FFFFFF)) >>> 0, i);
      } else if (((w & 0x9F000000) >>> 0) === 0x90000000) { // ADRP: imm21 in pages
        let imm = ((w >>> 29) & 3) | ((w >>> 3) & 0x1FFFFC);
        imm = (imm - (i >>> 12)) & 0x1FFFFF;
        code.writeUInt32LE(((w & 0x9F00001F) | ((imm & 3) << 29) | ((imm & 0x1FFFFC) << 3)) >>> 0, i);
      }
    }
  } else {
    throw new Error('unknown filter ' + kind);
  }
}

// bspatch rebuilds a binary from its base and a patch (bspatch in scripts/package/bsdiff.go):
// control triples (add, copy, seek) as little-endian int32; add bytes are base + diff, copy
// bytes come from extra.
function bspatch(base, ctrl, diff, extra, size) {
  const out = Buffer.alloc(size);
  let n = 0; let o = 0; let d = 0; let e = 0;
  for (let c = 0; c + 12 <= ctrl.length; c += 12) {
    const add = ctrl.readInt32LE(c);
    const copy = ctrl.readInt32LE(c + 4);
    const seek = ctrl.readInt32LE(c + 8);
    if (add < 0 || copy < 0 || o < 0 || o + add > base.length || d + add > diff.length ||
        e + copy > extra.length || n + add + copy > size) {
      throw new Error('a patch is damaged');
    }
    for (let i = 0; i < add; i++) {
      out[n + i] = base[o + i] + diff[d + i];
    }
    n += add; o += add; d += add;
    extra.copy(out, n, e, e + copy);
    n += copy; e += copy; o += seek;
  }
  if (n !== size) {
    throw new Error('a patch is damaged');
  }
  return out;
}

// slice returns a span ({offset, length}) of the unpacked bundle.
function slice(all, s) {
  if (!s || s.offset < 0 || s.length < 0 || s.offset + s.length > all.length) {
    throw new Error('bin/bundle.json points outside bin/bundle.br');
  }
  return all.subarray(s.offset, s.offset + s.length);
}

// build returns the binary an index entry describes: stored whole (then unfiltered) or as a
// patch against another entry.
function build(all, index, entry, depth) {
  if (entry.data) {
    const data = Buffer.from(slice(all, entry.data)); // a copy: unfilter works in place
    if (entry.filter) {
      if (entry.filter.start < 0 || entry.filter.start > entry.filter.end || entry.filter.end > data.length) {
        throw new Error('bin/bundle.json has a bad filter range');
      }
      unfilter(data.subarray(entry.filter.start, entry.filter.end), entry.filter.kind);
    }
    return data;
  }
  const base = (index.entries || []).find((e) => e.platform === entry.patch.base);
  if (!base || depth > 4) {
    throw new Error('bin/bundle.json has no base ' + entry.patch.base + ' for ' + entry.platform);
  }
  return bspatch(build(all, index, base, depth + 1), slice(all, entry.patch.ctrl),
    slice(all, entry.patch.diff), slice(all, entry.patch.extra), entry.size);
}

// spanEnd is how much of the unpacked bundle building entry needs: the bundle puts the most
// common platforms first, so their first run stops decompressing early.
function spanEnd(index, entry, depth) {
  if (entry.data) {
    return entry.data.offset + entry.data.length;
  }
  const p = entry.patch || {};
  const base = (index.entries || []).find((e) => e.platform === p.base);
  const own = Math.max(...[p.ctrl, p.diff, p.extra].map((s) => (s ? s.offset + s.length : 0)));
  return base && depth < 4 ? Math.max(own, spanEnd(index, base, depth + 1)) : own;
}

// decompress resolves to the first need bytes (at least) of a large-window Brotli file, and
// stops decompressing there.
function decompress(file, need) {
  const zlib = require('zlib');
  const input = fs.readFileSync(file);
  return new Promise((resolve, reject) => {
    const chunks = [];
    let have = 0;
    let settled = false;
    const stream = zlib.createBrotliDecompress({
      chunkSize: 1 << 20,
      params: { [zlib.constants.BROTLI_DECODER_PARAM_LARGE_WINDOW]: 1 },
    });
    const settle = (err) => {
      if (settled) {
        return;
      }
      settled = true;
      stream.destroy();
      if (err) {
        reject(new Error('bin/bundle.br is damaged: ' + err.message));
      } else {
        resolve(Buffer.concat(chunks, have));
      }
    };
    stream.on('data', (chunk) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= need) {
        settle(null);
      }
    });
    stream.on('end', () => settle(null));
    stream.on('error', settle);
    // In pieces: given all of it at once, the decoder decodes all of it before it hands out
    // the first byte, and stopping early saves nothing.
    const piece = 1 << 17;
    for (let i = 0; i < input.length && !settled; i += piece) {
      stream.write(input.subarray(i, i + piece));
    }
    stream.end();
  });
}

// unpack resolves to the binary for folder from bin/bundle.br, checked against its sha256, or
// to null when the package has no bundle or the bundle has no such binary.
async function unpack(taskDir, folder, file) {
  const index = readIndex(taskDir);
  const entry = index && (index.entries || []).find((e) => e.platform === folder && e.file === file);
  if (!entry) {
    return null;
  }
  const all = await decompress(path.join(taskDir, 'bin', 'bundle.br'), spanEnd(index, entry, 0));
  const binary = build(all, index, entry, 0);
  if (binary.length !== entry.size || sha256(binary) !== entry.sha256) {
    throw new Error('bin/bundle.br is damaged: the ' + folder + ' binary does not match its checksum');
  }
  return binary;
}

function sha256(data) {
  return require('crypto').createHash('sha256').update(data).digest('hex');
}

// extract unpacks the binary for folder (see unpack) and resolves to its path; null when the
// package has no bundle. It goes into bin/<folder>/ (the agent's own task folder) under a
// random temporary name, then is renamed into place. When the task folder cannot be written,
// it goes into a fresh private folder (mkdtemp) under the agent's temp directory for this
// run only: a shared folder is never trusted, since another user could swap the file between
// check and start.
async function extract(taskDir, folder, file) {
  const binary = await unpack(taskDir, folder, file);
  if (binary === null) {
    return null;
  }
  const want = sha256(binary);
  const errors = [];
  // 1. The task folder.
  const dir = path.join(taskDir, 'bin', folder);
  const dest = path.join(dir, file);
  const temp = dest + '.' + require('crypto').randomBytes(8).toString('hex') + '.tmp';
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(temp, binary, { mode: 0o755, flag: 'wx' });
    try {
      fs.renameSync(temp, dest); // atomic: a concurrent run sees the whole file or none
    } catch (err) {
      // Windows cannot replace an executable another job is running (or an antivirus
      // holds): that file is as good when it is the same binary.
      if (!(fs.existsSync(dest) && sha256(fs.readFileSync(dest)) === want)) {
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

// locate resolves to the binary to start for a Node platform and arch: the unpacked one in
// bin/<folder>/ (a warm run: one stat), else the one unpack writes now (the first run). It
// rejects with an Error whose message is meant for the log.
async function locate(taskDir, platform, arch) {
  const target = platform + '-' + arch;
  const bin = binaryPath(taskDir, platform, arch);
  if (bin === null) {
    throw new Error('This task has no binary for platform ' + target + '. Supported: ' +
      Array.from(PLATFORMS.keys()).join(', ') + '.');
  }
  if (fs.existsSync(bin)) {
    if (platform !== 'win32') {
      try {
        fs.chmodSync(bin, 0o755);
      } catch (err) {
        // A read-only task folder may already hold an executable file; spawn reports it if not.
      }
    }
    return bin;
  }
  let found = null;
  try {
    found = await extract(taskDir, platformFolder(platform, arch), path.basename(bin));
  } catch (err) {
    throw new Error('Could not unpack the task binary for platform ' + target + ': ' + err.message);
  }
  if (found === null) {
    throw new Error('The task binary for platform ' + target + ' is missing: ' + bin +
      '. The extension package is incomplete.');
  }
  return found;
}

function fail(message) {
  // Synchronous, so that process.exit right after cannot drop it from a full pipe.
  fs.writeSync(1, failureLines(message));
  process.exitCode = 1;
}

async function main() {
  // The agent sends SIGINT, then SIGTERM 7.5 s later. Handling both keeps node alive
  // (its default is to exit at once) so the binary can finish and report. On Windows
  // the console control event already reaches the child, and child.kill would
  // terminate it outright, so there the handlers only keep node alive. They are in place
  // before the binary starts: a signal in between would otherwise end node and leave the
  // binary running on its own. One that comes before the start means it never starts.
  let child = null;
  let cancelled = null;
  const relay = (signal) => {
    if (child === null) {
      cancelled = cancelled || signal;
      return;
    }
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

  let bin;
  try {
    bin = await locate(__dirname, process.platform, process.arch);
  } catch (err) {
    fail(err.message);
    return;
  }
  if (cancelled !== null) {
    fs.writeSync(1, 'The task was cancelled before it started.\n');
    process.exit(exitCode(null, cancelled));
  }

  child = childProcess.spawn(bin, process.argv.slice(2), {
    env: process.env,
    stdio: 'inherit',
    shell: false,
    windowsHide: true,
  });

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
  module.exports = {
    platformFolder, binaryPath, escapeData, failureLines, exitCode, unfilter, bspatch, unpack, extract, locate,
  };
}
