// Copies the API docs' browser assets (Swagger UI, ReDoc) from their npm packages into the
// Python package, so /docs and /redoc work offline: ofca serves them from /static/apidocs/.
// Run by `npm run build`; the files are committed like the dashboard build.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = resolve(web, '../src/ofca/static/apidocs');
mkdirSync(target, { recursive: true });

const files = [
  ['swagger-ui-dist/swagger-ui-bundle.js', 'swagger-ui-bundle.js'],
  ['swagger-ui-dist/swagger-ui-standalone-preset.js', 'swagger-ui-standalone-preset.js'],
  ['swagger-ui-dist/swagger-ui.css', 'swagger-ui.css'],
  ['swagger-ui-dist/LICENSE', 'LICENSE.swagger-ui'],
  ['redoc/bundles/redoc.standalone.js', 'redoc.standalone.js'],
  ['redoc/LICENSE', 'LICENSE.redoc'],
];
const versions = {};
for (const [source, name] of files) {
  const path = join(web, 'node_modules', source);
  // Source maps are not shipped: drop the trailing reference so browsers do not ask for one.
  if (name.endsWith('.js') || name.endsWith('.css')) {
    const text = readFileSync(path, 'utf8').replace(/\n\/[/*][#@] sourceMappingURL=\S+?(\s*\*\/)?\s*$/, '\n');
    writeFileSync(join(target, name), text);
  } else {
    copyFileSync(path, join(target, name));
  }
  const pkg = source.split('/')[0];
  versions[pkg] ??= JSON.parse(readFileSync(join(web, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}
writeFileSync(join(target, 'VERSIONS.json'), `${JSON.stringify(versions, null, 2)}\n`);
console.log(`api docs assets -> ${target} (${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')})`);
