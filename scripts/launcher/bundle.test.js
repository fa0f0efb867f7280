'use strict';
// Tests for the launcher's unpacking of bin/bundle.br (see run.js and scripts/package/bundle.go):
// the filters and patches it undoes, and which binary it picks for every platform and
// architecture, injected rather than taken from this machine. With PBI_STAGED set to a staged
// extension (make test sets dist/check, built for all five platforms), the same is checked on
// every real task bundle, and this machine's binary is started through the launcher.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');
const childProcess = require('child_process');

const launcher = require('./run.js');

const RUN_JS = path.join(__dirname, 'run.js');

// Every Node platform and arch the launcher serves, with the binary it must pick.
const TARGETS = [
  ['linux', 'x64', 'linux-x64'],
  ['linux', 'arm64', 'linux-arm64'],
  ['win32', 'x64', 'win-x64'],
  ['win32', 'arm64', 'win-x64'], // Windows on Arm runs the x64 binary emulated
  ['darwin', 'x64', 'darwin-x64'],
  ['darwin', 'arm64', 'darwin-arm64'],
];

// sniff names the platform an executable's header says it is for: ELF e_machine, Mach-O
// cputype, PE machine.
function sniff(b) {
  if (b.length >= 20 && b.readUInt32BE(0) === 0x7f454c46) {
    return 'linux-' + ({ 0x3e: 'x64', 0xb7: 'arm64' }[b.readUInt16LE(18)] || '?');
  }
  if (b.length >= 8 && b.readUInt32LE(0) === 0xfeedfacf) {
    return 'darwin-' + ({ 0x01000007: 'x64', 0x0100000c: 'arm64' }[b.readUInt32LE(4)] || '?');
  }
  if (b.length >= 0x40 && b.toString('latin1', 0, 2) === 'MZ') {
    const pe = b.readUInt32LE(0x3c);
    if (pe + 6 <= b.length && b.toString('latin1', pe, pe + 4) === 'PE\0\0') {
      return 'win-' + ({ 0x8664: 'x64', 0xaa64: 'arm64' }[b.readUInt16LE(pe + 4)] || '?');
    }
  }
  return 'unknown';
}

// fakeBinary is a header that sniff reads as folder, followed by code-like bytes.
function fakeBinary(folder, size) {
  const b = Buffer.alloc(size);
  crypto.randomFillSync(b, 0x80);
  for (let i = 0x80; i < size; i += 37) {
    b[i] = 0xE8; // calls, for the x86 filter to rewrite
  }
  const [system, arch] = folder.split('-');
  if (system === 'linux') {
    b.writeUInt32BE(0x7f454c46, 0);
    b.writeUInt16LE(arch === 'x64' ? 0x3e : 0xb7, 18);
  } else if (system === 'darwin') {
    b.writeUInt32LE(0xfeedfacf, 0);
    b.writeUInt32LE(arch === 'x64' ? 0x01000007 : 0x0100000c, 4);
  } else {
    b.write('MZ', 0, 'latin1');
    b.writeUInt32LE(0x40, 0x3c);
    b.write('PE\0\0', 0x40, 'latin1');
    b.writeUInt16LE(0x8664, 0x44);
  }
  return b;
}

// The packager's filters (scripts/package/bcj.go), encoding direction, to build test bundles.
function filterX86(code) {
  for (let i = 0; i + 5 <= code.length;) {
    if (code[i] !== 0xE8 && code[i] !== 0xE9) {
      i++;
      continue;
    }
    code.writeUInt32LE((code.readUInt32LE(i + 1) + i + 5) >>> 0, i + 1);
    i += 5;
  }
}

function filterARM64(code) {
  for (let i = 0; i + 4 <= code.length; i += 4) {
    const w = code.readUInt32LE(i);
    if (w >>> 26 === 0x25) {
      code.writeUInt32LE((0x94000000 | ((w + (i >>> 2)) & 0x03FFFFFF)) >>> 0, i);
    } else if (((w & 0x9F000000) >>> 0) === 0x90000000) {
      let imm = ((w >>> 29) & 3) | ((w >>> 3) & 0x1FFFFC);
      imm = (imm + (i >>> 12)) & 0x1FFFFF;
      code.writeUInt32LE(((w & 0x9F00001F) | ((imm & 3) << 29) | ((imm & 0x1FFFFC) << 3)) >>> 0, i);
    }
  }
}

function sha256(b) {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'launcher-bundle-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('unfilter undoes the x86 filter: E8/E9 rel32 back from absolute', () => {
  // A call at 0 to +0x10 and a jump at 5 to -2, stored as absolute targets 0x15 and 8.
  const code = Buffer.from([0xE8, 0x15, 0, 0, 0, 0xE9, 0x08, 0, 0, 0, 0x90]);
  launcher.unfilter(code, 'x86');
  assert.deepStrictEqual([...code], [0xE8, 0x10, 0, 0, 0, 0xE9, 0xfe, 0xff, 0xff, 0xff, 0x90]);
});

test('unfilter undoes the arm64 filter: BL words and ADRP pages back from absolute', () => {
  const code = Buffer.alloc(0x3008);
  code.writeUInt32LE((0x94000000 | 0x12) >>> 0, 8); // BL at word 2, absolute word 0x12 -> +0x10
  // ADRP x1 at page 3, absolute page 8 -> +5 pages: immlo = 1, immhi = 2.
  code.writeUInt32LE((0x90000001 | (0 << 29) | (2 << 5)) >>> 0, 0x3000);
  launcher.unfilter(code, 'arm64');
  assert.strictEqual(code.readUInt32LE(8), 0x94000010);
  assert.strictEqual(code.readUInt32LE(0x3000), (0x90000001 | (1 << 29) | (1 << 5)) >>> 0);
  assert.throws(() => launcher.unfilter(Buffer.alloc(4), 'mips'), /unknown filter/);
});

test('unfilter inverts the filters on any bytes', () => {
  for (let n = 0; n < 200; n++) {
    const data = crypto.randomBytes(64 + n);
    for (let i = 0; i < data.length; i += 3) {
      if (n % 2 === 0) data[i] = 0xE8 + (i % 2);
    }
    const x86 = Buffer.from(data);
    filterX86(x86);
    launcher.unfilter(x86, 'x86');
    assert.deepStrictEqual(x86, data);
    const arm = Buffer.from(data.subarray(0, data.length & ~3));
    for (let i = 0; i + 4 <= arm.length; i += 4) { // BL, ADRP and anything else in turn
      const w = arm.readUInt32LE(i);
      if (i % 12 === 0) arm.writeUInt32LE(((w & 0x03FFFFFF) | 0x94000000) >>> 0, i);
      if (i % 12 === 4) arm.writeUInt32LE(((w & 0x60FFFFFF) | 0x90000000) >>> 0, i);
    }
    const want = Buffer.from(arm);
    filterARM64(arm);
    launcher.unfilter(arm, 'arm64');
    assert.deepStrictEqual(arm, want);
  }
});

test('bspatch adds, copies and seeks; a damaged patch is refused', () => {
  const base = Buffer.from('abcdefgh');
  const ctrl = Buffer.alloc(24);
  // add 3 (abc + [0,1,0] = acc), copy 2 ("XY"), seek +2; add 2 (fg + [0,0]), copy 0.
  [3, 2, 2, 2, 0, 0].forEach((v, i) => ctrl.writeInt32LE(v, i * 4));
  const out = launcher.bspatch(base, ctrl, Buffer.from([0, 1, 0, 0, 0]), Buffer.from('XY'), 7);
  assert.strictEqual(out.toString(), 'accXYfg');
  assert.throws(() => launcher.bspatch(base, ctrl, Buffer.from([0, 1]), Buffer.from('XY'), 7), /damaged/);
  assert.throws(() => launcher.bspatch(base, ctrl, Buffer.from([0, 1, 0, 0, 0]), Buffer.from('XY'), 9), /damaged/);
});

// writeBundle lays out a packaged task folder with the five fake binaries in a bundle shaped
// as the packager makes it: linux binaries whole and filtered, the others patches against them.
function writeBundle(dir) {
  const bins = {};
  for (const folder of ['linux-x64', 'darwin-x64', 'win-x64', 'linux-arm64', 'darwin-arm64']) {
    bins[folder] = fakeBinary(folder, 4096 + folder.length * 64);
  }
  const parts = [];
  let offset = 0;
  const add = (b) => {
    parts.push(b);
    offset += b.length;
    return { offset: offset - b.length, length: b.length };
  };
  const entries = [];
  const entry = (folder) => ({
    platform: folder, file: folder.startsWith('win') ? 'task.exe' : 'task',
    size: bins[folder].length, sha256: sha256(bins[folder]),
  });
  for (const [folder, kind, base] of [['linux-x64', 'x86'], ['darwin-x64', null, 'linux-x64'],
    ['win-x64', null, 'linux-x64'], ['linux-arm64', 'arm64'], ['darwin-arm64', null, 'linux-arm64']]) {
    const e = entry(folder);
    if (kind) {
      const data = Buffer.from(bins[folder]);
      (kind === 'x86' ? filterX86 : filterARM64)(data.subarray(0x80, 0x800));
      e.data = add(data);
      e.filter = { kind, start: 0x80, end: 0x800 };
    } else {
      // One add run over the common length, the rest copied.
      const b = bins[base];
      const t = bins[folder];
      const n = Math.min(b.length, t.length);
      const diff = Buffer.alloc(n);
      for (let i = 0; i < n; i++) diff[i] = (t[i] - b[i]) & 0xff;
      const ctrl = Buffer.alloc(12);
      ctrl.writeInt32LE(n, 0);
      ctrl.writeInt32LE(t.length - n, 4);
      e.patch = { base, ctrl: add(ctrl), diff: add(diff), extra: add(t.subarray(n)) };
    }
    entries.push(e);
  }
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(RUN_JS, path.join(dir, 'run.js'));
  fs.writeFileSync(path.join(dir, 'bin', 'bundle.br'), zlib.brotliCompressSync(Buffer.concat(parts), {
    params: { [zlib.constants.BROTLI_PARAM_LARGE_WINDOW]: 1, [zlib.constants.BROTLI_PARAM_LGWIN]: 25 },
  }));
  fs.writeFileSync(path.join(dir, 'bin', 'bundle.json'), JSON.stringify({ format: 2, entries }, null, 2));
  return bins;
}

test('locate unpacks the right binary for every platform and architecture', async (t) => {
  for (const [platform, arch, folder] of TARGETS) {
    const dir = tempDir(t);
    const bins = writeBundle(dir);
    const bin = await launcher.locate(dir, platform, arch);
    assert.strictEqual(bin, launcher.binaryPath(dir, platform, arch), platform + '-' + arch);
    const got = fs.readFileSync(bin);
    assert.ok(got.equals(bins[folder]), platform + '-' + arch + ' gets the ' + folder + ' binary');
    assert.strictEqual(sniff(got), folder);
    // Only that one is unpacked.
    assert.deepStrictEqual(fs.readdirSync(path.join(dir, 'bin')).sort(), ['bundle.br', 'bundle.json', folder]);
    // A warm run finds it without the bundle.
    fs.rmSync(path.join(dir, 'bin', 'bundle.br'));
    assert.strictEqual(await launcher.locate(dir, platform, arch), bin);
  }
});

test('locate refuses unknown platforms, damaged bundles and other formats', async (t) => {
  const dir = tempDir(t);
  writeBundle(dir);
  await assert.rejects(() => launcher.locate(dir, 'linux', 'ia32'), /no binary for platform linux-ia32/);
  await assert.rejects(() => launcher.locate(dir, 'freebsd', 'x64'), /no binary for platform freebsd-x64/);

  const indexPath = path.join(dir, 'bin', 'bundle.json');
  const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  const damaged = JSON.parse(JSON.stringify(index));
  damaged.entries[1].sha256 = '0'.repeat(64); // darwin-x64, a patch
  fs.writeFileSync(indexPath, JSON.stringify(damaged));
  await assert.rejects(() => launcher.locate(dir, 'darwin', 'x64'), /darwin-x64 binary does not match its checksum/);
  assert.ok(!fs.existsSync(path.join(dir, 'bin', 'darwin-x64')), 'nothing is left behind');

  damaged.entries[1].sha256 = index.entries[1].sha256;
  damaged.entries[1].patch.ctrl.length = 1 << 30;
  fs.writeFileSync(indexPath, JSON.stringify(damaged));
  await assert.rejects(() => launcher.locate(dir, 'darwin', 'x64'), /points outside bin\/bundle\.br/);

  fs.writeFileSync(indexPath, JSON.stringify(Object.assign({}, index, { format: 1 })));
  await assert.rejects(() => launcher.locate(dir, 'linux', 'x64'), /format 1; this launcher reads format 2/);

  fs.rmSync(indexPath);
  await assert.rejects(() => launcher.locate(dir, 'linux', 'x64'), /The task binary for platform linux-x64 is missing/);
});

// The staged extension make test builds for all five platforms (PBI_STAGED), when given.
const STAGED = process.env.PBI_STAGED ? path.resolve(process.env.PBI_STAGED) : '';
const stagedSkip = STAGED ? false : 'PBI_STAGED is not set (make test sets it to the five-platform build)';

function stagedTasks() {
  const root = path.join(STAGED, 'tasks');
  return fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'task.json'))).map((d) => path.join(root, d));
}

test('every staged task bundle gives each platform its own binary', { skip: stagedSkip }, async (t) => {
  const tasks = stagedTasks();
  assert.strictEqual(tasks.length, 7);
  for (const task of tasks) {
    assert.ok(fs.readFileSync(path.join(task, 'run.js')).equals(fs.readFileSync(RUN_JS)), task + ': run.js is the launcher');
    assert.deepStrictEqual(fs.readdirSync(path.join(task, 'bin')).sort(), ['bundle.br', 'bundle.json'], task);
    for (const [platform, arch, folder] of TARGETS) {
      // A copy, so the staged folder stays as the .vsix holds it.
      const dir = tempDir(t);
      fs.mkdirSync(path.join(dir, 'bin'));
      fs.copyFileSync(RUN_JS, path.join(dir, 'run.js'));
      for (const f of ['bundle.br', 'bundle.json']) {
        fs.copyFileSync(path.join(task, 'bin', f), path.join(dir, 'bin', f));
      }
      const bin = await launcher.locate(dir, platform, arch);
      assert.strictEqual(sniff(fs.readFileSync(bin)), folder, path.basename(task) + ' on ' + platform + '-' + arch);
    }
  }
});

test('a staged task starts this machine\'s binary through the launcher', { skip: stagedSkip || (launcher.platformFolder(process.platform, process.arch) ? false : 'no binary for this machine') }, (t) => {
  const task = stagedTasks().find((d) => path.basename(d) === 'delete-pipeline');
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'bin'));
  for (const f of ['task.json', 'run.js', 'bin/bundle.br', 'bin/bundle.json']) {
    fs.copyFileSync(path.join(task, f), path.join(dir, f));
  }
  // No inputs: the task itself must answer, through the agent's logging commands.
  const res = childProcess.spawnSync(process.execPath, [path.join(dir, 'run.js')], {
    env: { PATH: process.env.PATH, TMPDIR: dir }, encoding: 'utf8',
  });
  assert.strictEqual(res.status, 1, res.stderr);
  assert.match(res.stdout, /##vso\[task\.logissue type=error;?\]input "pipeline"/);
  assert.match(res.stdout, /##vso\[task\.complete result=Failed;\]/);
  assert.ok(fs.existsSync(launcher.binaryPath(dir, process.platform, process.arch)), 'unpacked in place');
});
