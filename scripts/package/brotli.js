'use strict';
// Compresses one file with Brotli for the task bundle (see scripts/launcher/run.js):
//   node brotli.js <in> <out> <quality 0-11> <lgwin 10-30>
// Large-window Brotli (RFC 7932 with windows up to 1 GiB, which Node's decoder reads when
// asked with BROTLI_DECODER_PARAM_LARGE_WINDOW): with a window as large as the bundle,
// every part can refer to every earlier one.
const fs = require('fs');
const zlib = require('zlib');

const [input, output, quality, lgwin] = process.argv.slice(2);
if (!input || !output || !quality || !lgwin) {
  process.stderr.write('usage: node brotli.js <in> <out> <quality> <lgwin>\n');
  process.exit(2);
}
const data = fs.readFileSync(input);
const packed = zlib.brotliCompressSync(data, {
  params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: Number(quality),
    [zlib.constants.BROTLI_PARAM_LARGE_WINDOW]: 1,
    [zlib.constants.BROTLI_PARAM_LGWIN]: Number(lgwin),
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
  },
});
fs.writeFileSync(output, packed);
