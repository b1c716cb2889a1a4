// Reads raw TAP on stdin, echoes it, and prints the closing line the CI
// harness reads: "N passed, N failed, N skipped". Counts leaf assertions
// (tap-parser's flat mode), not test files. TEST_EXIT is the test command's
// exit code: a non-zero exit with no failing assertion (a compile error, a
// crashed runner) still counts as one failure, so the line never says green
// when the run was not.
import { Parser } from 'tap-parser'

const testExit = Number(process.env.TEST_EXIT ?? '0')
const parser = new Parser({ flat: true }, (results) => {
  const passed = results.pass
  let failed = results.fail + (results.bailout ? 1 : 0)
  if (testExit !== 0 && failed === 0) failed = 1
  if (passed === 0 && failed === 0) failed = 1 // ran no test: not green
  const skipped = results.skip + results.todo
  process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`)
  process.exitCode = failed > 0 ? 1 : 0
})
process.stdin.on('data', (chunk) => process.stdout.write(chunk))
process.stdin.pipe(parser)
