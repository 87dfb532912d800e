// Builds the webapp bundle (dist/main.js) with the libraries Mattermost supplies left out: React,
// ReactDOM, Redux and ReactRedux are read from the globals the Mattermost webapp sets, never
// bundled. With --tests it also compiles test/unit and test/browser for node's test runner.
import {build} from 'esbuild';
import {readdirSync} from 'node:fs';

const globals = {
    react: 'React',
    'react-dom': 'ReactDOM',
    redux: 'Redux',
    'react-redux': 'ReactRedux',
};

const mattermostGlobals = {
    name: 'mattermost-globals',
    setup(b) {
        const filter = new RegExp(`^(${Object.keys(globals).join('|')})$`);
        b.onResolve({filter}, (args) => ({path: args.path, namespace: 'mm-global'}));
        b.onLoad({filter: /.*/, namespace: 'mm-global'}, (args) => ({
            contents: `module.exports = window[${JSON.stringify(globals[args.path])}];`,
            loader: 'js',
        }));
    },
};

await build({
    entryPoints: ['src/index.tsx'],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    sourcemap: false,
    outfile: 'dist/main.js',
    plugins: [mattermostGlobals],
    jsx: 'transform',
    logLevel: 'warning',
});

if (process.argv.includes('--tests')) {
    for (const kind of ['unit', 'browser']) {
        const entryPoints = readdirSync(`test/${kind}`).filter((f) => /\.test\.tsx?$/.test(f)).map((f) => `test/${kind}/${f}`);
        await build({
            entryPoints,
            bundle: true,
            platform: 'node',
            format: 'esm',
            target: 'node20',
            packages: 'external',
            outdir: `.build/${kind}`,
            outExtension: {'.js': '.mjs'},
            jsx: 'transform',
            logLevel: 'warning',
        });
    }
}
