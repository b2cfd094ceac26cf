#!/usr/bin/env node
// Local sanity check of the built Lua process module under emcc's own JS glue (Node). Not a test of aonode: the real
// tests run the module through AOCompute (Tests/AOComputeTests/LuaProcessModuleTests.swift). Usage:
//   node scripts/lua-module-node-check.cjs [.build/aonode-lua]
// Prints one result per message and exits non-zero if an expectation fails.
const path = require('path')
// The glue (DETERMINISTIC=1) replaces process.hrtime and Date.now: take the clock first.
const now = process.hrtime.bigint
const dir = path.resolve(process.argv[2] || path.join(__dirname, '..', '.build', 'aonode-lua'))
const Factory = require(path.join(dir, 'process.js'))

const env = { Process: { Id: 'PROCESS', Owner: 'OWNER', Tags: [{ name: 'Module', value: 'MODULE' }] } }
const msg = (action, data, from = 'OWNER', extra = []) => ({
  Id: 'M-' + action, Owner: from, From: from, Target: 'PROCESS', Timestamp: 1700000000000, 'Block-Height': 1,
  Tags: [{ name: 'Action', value: action }, ...extra], Data: data ?? ''
})

let failures = 0
const expect = (what, ok) => { if (!ok) { failures++; console.log('FAIL: ' + what) } }

Factory({ wasmBinary: require('fs').readFileSync(path.join(dir, 'process.wasm')), print: () => {}, printErr: (t) => console.error('[stderr] ' + t) }).then((m) => {
  const handle = m.cwrap('handle', 'string', ['string', 'string'])
  const run = (message) => {
    const t0 = now()
    const text = handle(JSON.stringify(message), JSON.stringify(env))
    const ms = Number(now() - t0) / 1e6
    console.log(`${ms.toFixed(2)} ms ${text.length > 300 ? text.slice(0, 300) + '...' : text}`)
    return JSON.parse(text)
  }
  let r = run({ ...msg('Spawn'), Id: 'PROCESS', Tags: [{ name: 'Type', value: 'Process' }] })
  expect('spawn ok', r.ok === true && r.response.Output === '')
  r = run(msg('Eval', 'return 1+1'))
  expect('eval 1+1', r.response.Output.data === '2')
  r = run(msg('Eval', 'local s = 0 for i = 1, 1000000 do s = s + i end return s'))
  expect('loop', r.response.Output.data === '500000500000')
  r = run(msg('Eval', 'Send({Target="PID-2",Action="Ping",Data="hi"}); Spawn("MOD-1",{Data="x",["X-Tag"]="y"}); return "done"'))
  expect('send+spawn', r.response.Messages.length === 1 && r.response.Spawns.length === 1)
  r = run(msg('Ping', '', 'ALICE'))
  expect('pong', r.response.Messages[0].Target === 'ALICE' && r.response.Messages[0].Data === 'Pong')
  r = run(msg('Increment', '', 'ALICE'))
  expect('increment', r.response.Output.data === '1')
  r = run(msg('Eval', 'error("boom")'))
  expect('error', r.ok === true && /boom/.test(r.response.Error))
  r = run(msg('Eval', 'return os.date("%Y-%m-%d"), os.time()'))
  expect('date', r.response.Output.data === '1970-01-01')
  r = run(msg('Eval', 'local function f() return f() + 1 end return f()'))
  expect('stack overflow is an Error', /stack overflow/.test(r.response.Error))
  r = run(msg('Eval', 'return io.open("/nope")'))
  expect('io.open', r.ok === true)
  r = run(msg('Eval', 'Big = {} for i = 1, 200000 do Big[i] = "x" .. i end return #Big'))
  expect('memory growth', r.response.Output.data === '200000')
  console.log(`memory: ${m.HEAPU8.length} bytes`)
  console.log(failures === 0 ? 'node check: all passed' : `node check: ${failures} failed`)
  process.exit(failures === 0 ? 0 : 1)
}).catch((e) => { console.error(e); process.exit(2) })
