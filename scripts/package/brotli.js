'use strict';
// Compresses one file with Brotli for the task bundle (see scripts/launcher/run.js):
//   node brotli.js <in> <out> <quality 0-11>
// A 16 MiB window (the largest plain Brotli allows, so any Node decompresses it) spans two
// binaries back; the bundle puts binaries of one architecture next to each other.
const fs = require('fs');
const zlib = require('zlib');

const [input, output, quality] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: node brotli.js <in> <out> <quality>\n');
  process.exit(2);
}
const data = fs.readFileSync(input);
const packed = zlib.brotliCompressSync(data, {
  params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: Number(quality || 11),
    [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
  },
});
fs.writeFileSync(output, packed);
