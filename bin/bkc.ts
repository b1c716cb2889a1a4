#!/usr/bin/env node
// bkc: the one command-line entry point.
//
// libuv's threadpool (4 threads by default) carries LevelDB, scrypt and file
// I/O alike; a larger pool keeps key derivation from stalling block commits.
// It is sized when first used, so this runs before anything is imported.
process.env.UV_THREADPOOL_SIZE ??= '8'
await import('../cli/main.js')
