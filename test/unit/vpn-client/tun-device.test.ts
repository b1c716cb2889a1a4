// The privilege check before a TUN is created: it asks for CAP_NET_ADMIN in
// the effective set (/proc/self/status), not for uid 0.
import t from 'tap'
import fc from 'fast-check'
import { effectiveCapabilities, netAdminProblem } from '../../../vpn-client/tun-device.js'

const statusWith = (capEff: string): string =>
  [
    'Name:\tnode',
    'Uid:\t1000\t1000\t1000\t1000',
    'CapInh:\t0000000000000000',
    'CapPrm:\t0000000000001000',
    `CapEff:\t${capEff}`,
    'CapBnd:\t000001ffffffffff',
    '',
  ].join('\n')

t.test('effectiveCapabilities reads the CapEff line, and only it', async (t) => {
  t.equal(effectiveCapabilities(statusWith('000001fffeffffff')), 0x1fffeffffffn)
  t.equal(effectiveCapabilities(statusWith('0000000000001000')), 0x1000n)
  t.equal(effectiveCapabilities(statusWith('0000000000000000')), 0n)
  t.equal(effectiveCapabilities('Name:\tnode\nCapPrm:\t0000000000001000\n'), null, 'no CapEff line')
  t.equal(effectiveCapabilities(statusWith('not-hex')), null)
})

t.test('CAP_NET_ADMIN (bit 12) is what counts, whatever the uid', async (t) => {
  t.equal(netAdminProblem(statusWith('0000000000001000')), null, 'CAP_NET_ADMIN alone suffices')
  t.equal(netAdminProblem(statusWith('000001ffffffffff')), null, "root's full set")
  t.match(
    netAdminProblem(statusWith('000001ffffffefff')),
    /needs the CAP_NET_ADMIN capability.*run it with sudo/,
    'every capability but that one',
  )
  t.match(netAdminProblem(statusWith('0000000000000000')), /CAP_NET_ADMIN/)
  t.equal(netAdminProblem('Name:\tnode\n'), null, 'a status that does not say: opening the device will tell')
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (caps) => {
      const problem = netAdminProblem(statusWith(caps.toString(16).padStart(16, '0')))
      return (problem === null) === ((caps & 0x1000n) !== 0n)
    }),
  )
})
