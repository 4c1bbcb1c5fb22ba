// A node:test reporter that records each test's name, file and outcome as JSON lines, so
// scripts/conformance.mjs can build docs/conformance.md from what actually ran.
export default async function* resultsReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const d = event.data;
    if (d.details?.type === 'suite') continue;
    const status = d.todo !== undefined && d.todo !== false ? 'todo' : d.skip !== undefined && d.skip !== false ? 'skip'
      : event.type === 'test:pass' ? 'pass' : 'fail';
    yield JSON.stringify({ name: d.name, file: d.file, status }) + '\n';
  }
}
