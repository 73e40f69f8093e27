// Runs the reference pixelmatch on every case of a cases.json and prints what it found.
//
//   node reference.mjs <cases.json> <image dir>      (writes JSON to stdout)
//
// Each case is {"a", "b", "options"} with file names relative to the image directory and
// pixelmatch's own option names. The output is one {"count", "diff_sha256"} per case: the
// count pixelmatch returns and the SHA-256 of the diff image it draws into a Buffer (the same
// RGBA bytes pixelmatch's own tests compare).
import {createHash} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import pixelmatch from 'pixelmatch';
import {PNG} from 'pngjs';

const [casesFile, dir] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const read = (name) => PNG.sync.read(readFileSync(join(dir, name)));

const results = cases.map(({a, b, options}) => {
    const img1 = read(a);
    const img2 = read(b);
    const {width, height} = img1;
    const diff = Buffer.alloc(width * height * 4);
    const count = pixelmatch(img1.data, img2.data, diff, width, height, options);
    return {count, diff_sha256: createHash('sha256').update(diff).digest('hex')};
});
process.stdout.write(JSON.stringify(results) + '\n');
