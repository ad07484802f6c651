/**
 * Builds data/embedded/ (the committed 32x32 Tiny ImageNet subset) from the Tiny ImageNet-200 archives, bit for bit.
 *
 *   npx tsx scripts/build-embedded.ts [--source ../shared/data/tiny-imagenet-200] [--out data/embedded] [--check]
 *
 * --source  folder holding tiny-imagenet-200-train.tar.gz and tiny-imagenet-200-val.tar.gz
 * --out     output folder (default data/embedded); packs go to <out>/classes/, the manifest to <out>/manifest.json
 * --check   build in memory and compare with what is in --out instead of writing (exit 1 on any difference)
 *
 * What is selected and how it is encoded: see EMBEDDED_SPEC / EMBEDDED_SELECTION in kernel-lib/data/embedded.ts and
 * data/embedded/README.md. Takes a few minutes on one core (decode, resize and re-encode ~45k images).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../kernel-lib/data/common';
import { writeFileAtomic } from '../kernel-lib/data/cache';
import { EMBEDDED_DIR } from '../kernel-lib/data/embedded';
import { buildEmbedded } from '../kernel-lib/data/embedded-build';

const { values } = parseArgs({
  options: {
    source: { type: 'string', default: path.resolve(REPO_ROOT, '../shared/data/tiny-imagenet-200') },
    out: { type: 'string', default: EMBEDDED_DIR },
    check: { type: 'boolean', default: false },
  },
});

const source = path.resolve(values.source!);
const out = path.resolve(values.out!);
const started = Date.now();
const { manifest, packs } = await buildEmbedded(source, { log: (line) => console.log(line) });
const manifestText = JSON.stringify(manifest, null, 1) + '\n';

if (values.check) {
  let differences = 0;
  const compare = (relative: string, bytes: Buffer) => {
    const file = path.join(out, relative);
    if (!fs.existsSync(file) || !fs.readFileSync(file).equals(bytes)) {
      console.log(`differs: ${file}`);
      differences++;
    }
  };
  for (const [relative, bytes] of packs) compare(relative, bytes);
  compare('manifest.json', Buffer.from(manifestText));
  console.log(differences === 0 ? `identical: ${packs.size} packs and the manifest` : `${differences} file(s) differ`);
  process.exit(differences === 0 ? 0 : 1);
}

fs.mkdirSync(path.join(out, 'classes'), { recursive: true });
for (const [relative, bytes] of packs) writeFileAtomic(path.join(out, relative), bytes);
// Packs of classes no longer selected would confuse a reader of the folder.
const keep = new Set([...packs.keys()].map((p) => path.basename(p)));
for (const name of fs.readdirSync(path.join(out, 'classes'))) if (!keep.has(name)) fs.rmSync(path.join(out, 'classes', name));
writeFileAtomic(path.join(out, 'manifest.json'), Buffer.from(manifestText));
const perClass = manifest.classes[0];
console.log(
  `wrote ${packs.size} packs (${perClass.train} train + ${perClass.test} test images per class), ` +
    `${(manifest.totalBytes / 2 ** 20).toFixed(2)} MiB, to ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
