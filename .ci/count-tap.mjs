// Reads raw TAP on stdin, echoes it, and prints the closing line the CI
// harness reads: "N passed, N failed, N skipped". Counts leaf assertions:
// tap 21 streams subtests ("# Subtest: …" then an indented body, then one
// summary point), which tap-parser's flat mode does not flatten, so the
// counter walks the child parsers and skips each subtest's summary point.
// TEST_EXIT is the test command's exit code: a non-zero exit with no failing
// assertion (a compile error, a crashed file) still counts as a failure, so
// the line never says green when the run was not. EXTRA_FAILED counts the
// failed steps that ran before the tests.
import { Parser } from 'tap-parser'

const counts = { pass: 0, fail: 0, skip: 0 }
let topLevelFailures = 0

function watch(parser, depth) {
  let childOpen = false
  parser.on('child', (child) => {
    childOpen = true
    watch(child, depth + 1)
  })
  parser.on('assert', (a) => {
    if (childOpen) {
      // The summary point of the subtest that just ended.
      childOpen = false
      if (depth === 0 && !a.ok) topLevelFailures++
      return
    }
    if (a.skip || a.todo) counts.skip++
    else if (a.ok) counts.pass++
    else counts.fail++
  })
}

const parser = new Parser()
watch(parser, 0)
parser.on('complete', (results) => {
  const testExit = Number(process.env.TEST_EXIT ?? '0')
  let failed = counts.fail
  if (failed === 0) failed = topLevelFailures + (results.bailout ? 1 : 0)
  if (testExit !== 0 && failed === 0) failed = 1
  if (counts.pass === 0 && failed === 0) failed = 1 // ran no test: not green
  failed += Number(process.env.EXTRA_FAILED ?? '0') // steps before the tests (the lint)
  process.stdout.write(`\n${counts.pass} passed, ${failed} failed, ${counts.skip} skipped\n`)
  process.exitCode = failed > 0 ? 1 : 0
})

let started = false
let pending = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  process.stdout.write(chunk)
  // npm prints its own lines before the TAP stream; the parser starts at "TAP version".
  if (started) return parser.write(chunk)
  pending += chunk
  const at = pending.indexOf('TAP version')
  if (at >= 0) {
    started = true
    parser.write(pending.slice(at))
    pending = ''
  }
})
process.stdin.on('end', () => parser.end())
