/**
 * Every ```ts code block in README.md compiles against the repository's own sources.
 *
 * Each block becomes a module in a scratch folder beside the repo's node_modules, with a tsconfig
 * whose `paths` map `dynamics-odata` (and its subpaths) to `src/`, so a sample is checked against
 * the code as it is now, not against a stale `dist/`. One `tsc --noEmit` run checks them all; an
 * error is reported as `README.md:<line>` so the sample can be found at once.
 *
 * Conventions for README authors:
 * - ```ts (or ```typescript) blocks are compiled; ```ts no-compile blocks are skipped.
 * - Each block is its own module (`export {}` is appended), with top-level `await` allowed.
 * - `./generated` resolves to the repo's committed `generated/` folder.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '../..');
const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');

interface CodeBlock {
  /** 1-based line of the first line of code (the line after the opening fence). */
  line: number;
  code: string;
}

/** The ```ts / ```typescript blocks of a markdown text, minus those marked `no-compile`. */
function extractBlocks(markdown: string): { blocks: CodeBlock[]; skipped: number } {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  let skipped = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open;
    const body: string[] = [];
    let j = i + 1;
    // A fence closes with at least as many of the same character (CommonMark).
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    while (j < lines.length && !close.test(lines[j])) {
      body.push(indent && lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
      j++;
    }
    if (lang === 'ts' || lang === 'typescript') {
      if (/\bno-compile\b/.test(rest)) skipped++;
      else blocks.push({ line: i + 2, code: body.join('\n') });
    }
    i = j;
  }
  return { blocks, skipped };
}

interface CompileResult {
  /** `README.md:<line>:<col> TSxxxx message` per error inside a block. */
  blockErrors: string[];
  /** Errors outside the blocks (in `src/`, or tsc itself failing). */
  otherErrors: string[];
}

/** Writes each block as a module and runs the repository's tsc over them. */
function compileBlocks(blocks: CodeBlock[], label: string): CompileResult {
  const scratchRoot = path.join(repo, '.tmp');
  fs.mkdirSync(scratchRoot, { recursive: true });
  // Inside the repo, so bare imports (zod, @nestjs/common, ioredis, …) resolve through its node_modules.
  const dir = fs.mkdtempSync(path.join(scratchRoot, 'readme-'));
  try {
    const files: string[] = [];
    for (const block of blocks) {
      const file = `block-L${block.line}.ts`;
      fs.writeFileSync(path.join(dir, file), `${block.code}\nexport {};\n`);
      files.push(file);
    }
    const generated = path.join(repo, 'generated');
    if (fs.existsSync(generated)) fs.symlinkSync(generated, path.join(dir, 'generated'), 'dir');
    const src = (p: string) => path.join(repo, 'src', p);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        // Preserve: samples may use top-level await (as users do in scripts) while src/ keeps its CommonJS `export =`.
        module: 'Preserve',
        moduleResolution: 'Bundler',
        strict: true,
        noEmit: true,
        esModuleInterop: true,
        skipLibCheck: true,
        resolveJsonModule: true,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        types: ['node'],
        baseUrl: '.',
        paths: {
          'dynamics-odata': [src('index.ts')],
          'dynamics-odata/emulator': [src('emulator/index.ts')],
          'dynamics-odata/codegen': [src('codegen/index.ts')],
          'dynamics-odata/nest': [src('nest/index.ts')],
        },
      },
      files,
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    const blockErrors: string[] = [];
    const otherErrors: string[] = [];
    const byFile = new Map(blocks.map((b) => [`block-L${b.line}.ts`, b]));
    // tsc --pretty false: `file(line,col): error TSxxxx: message`, continuation lines indented.
    let current: string[] | undefined;
    for (const text of output.split(/\r?\n/)) {
      if (text.trim() === '') continue;
      const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(text);
      if (m) {
        const block = byFile.get(m[1]);
        if (block) {
          blockErrors.push(`${label}:${block.line + Number(m[2]) - 1}:${m[3]} ${m[4]} ${m[5]}`);
          current = blockErrors;
        } else {
          otherErrors.push(`${path.resolve(dir, m[1]).replace(repo + path.sep, '')}(${m[2]},${m[3]}) ${m[4]} ${m[5]}`);
          current = otherErrors;
        }
      } else if (/^\s/.test(text) && current) {
        current[current.length - 1] += `\n    ${text.trim()}`;
      } else {
        otherErrors.push(text);
        current = otherErrors;
      }
    }
    if (run.error) otherErrors.push(`tsc did not run: ${run.error.message}`);
    else if (run.status !== 0 && blockErrors.length === 0 && otherErrors.length === 0) otherErrors.push(`tsc exited with ${run.status} and no diagnostics`);
    return { blockErrors, otherErrors };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('README.md code samples', () => {
  it('extracts ts blocks with their line numbers and skips no-compile ones', () => {
    const md = ['# x', '```ts', 'const a = 1;', '```', '```ts no-compile', 'nope(', '```', '```bash', 'npm ci', '```', '  ```typescript', '  const b = 2;', '  ```'].join('\n');
    const { blocks, skipped } = extractBlocks(md);
    expect(blocks).toEqual([
      { line: 3, code: 'const a = 1;' },
      { line: 12, code: 'const b = 2;' },
    ]);
    expect(skipped).toBe(1);
  });

  it('reports a broken sample by its README line', () => {
    // Proves the harness can fail: a type error on the second line of a block starting at line 10.
    const result = compileBlocks(
      [
        { line: 3, code: 'export const ok: number = 1;' },
        { line: 10, code: 'const fine = 1;\nconst wrong: number = "text";' },
      ],
      'SAMPLE.md',
    );
    expect(result.otherErrors).toEqual([]);
    expect(result.blockErrors).toHaveLength(1);
    expect(result.blockErrors[0]).toMatch(/^SAMPLE\.md:11:7 TS2322 /);
  });

  it('every ```ts block in README.md compiles against src/', () => {
    // README_FILE checks a draft elsewhere with the same rules.
    const readme = process.env.README_FILE ? path.resolve(process.env.README_FILE) : path.join(repo, 'README.md');
    if (!fs.existsSync(readme)) throw new Error(`${readme} does not exist`);
    const label = path.basename(readme);
    const { blocks } = extractBlocks(fs.readFileSync(readme, 'utf8'));
    if (blocks.length === 0) throw new Error(`${label} has no \`\`\`ts code blocks to compile (mark only genuine exceptions \`\`\`ts no-compile)`);
    const { blockErrors, otherErrors } = compileBlocks(blocks, label);
    const report = [...blockErrors, ...otherErrors.map((e) => `(outside the samples) ${e}`)];
    if (report.length > 0) throw new Error(`${blockErrors.length} error(s) in the samples of ${label} (${blocks.length} blocks):\n${report.join('\n')}`);
  });
});
