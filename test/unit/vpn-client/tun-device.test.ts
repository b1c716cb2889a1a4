// The privilege check before a TUN is created: it asks for CAP_NET_ADMIN in
// the effective set (/proc/self/status), not for uid 0; and, when not root,
// in the ambient set too, which the `ip` commands that configure the TUN
// inherit it from.
import t from 'tap'
import fc from 'fast-check'
import { capabilitySet, effectiveCapabilities, netAdminProblem } from '../../../vpn-client/tun-device.js'

const statusWith = (capEff: string, opts: { uid?: number; capAmb?: string } = {}): string =>
  [
    'Name:\tnode',
    `Uid:\t${opts.uid ?? 1000}\t${opts.uid ?? 1000}\t${opts.uid ?? 1000}\t${opts.uid ?? 1000}`,
    'CapInh:\t0000000000000000',
    'CapPrm:\t0000000000001000',
    `CapEff:\t${capEff}`,
    'CapBnd:\t000001ffffffffff',
    ...(opts.capAmb === undefined ? [] : [`CapAmb:\t${opts.capAmb}`]),
    '',
  ].join('\n')

const NO_CAPS = '0000000000000000'
const NET_ADMIN = '0000000000001000'

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

t.test('capabilitySet reads the named line only', async (t) => {
  const status = statusWith(NET_ADMIN, { capAmb: NO_CAPS })
  t.equal(capabilitySet(status, 'CapEff'), 0x1000n)
  t.equal(capabilitySet(status, 'CapAmb'), 0n)
  t.equal(capabilitySet(statusWith(NO_CAPS, { capAmb: NET_ADMIN }), 'CapAmb'), 0x1000n)
  t.equal(capabilitySet(statusWith(NET_ADMIN), 'CapAmb'), null, 'no CapAmb line')
})

t.test('not root, CAP_NET_ADMIN must also be ambient, or the ip commands would not get it', async (t) => {
  t.equal(netAdminProblem(statusWith(NET_ADMIN, { capAmb: NET_ADMIN })), null, 'effective and ambient: enough')
  const fileCaps = netAdminProblem(statusWith(NET_ADMIN, { capAmb: NO_CAPS }))
  t.match(fileCaps, /not as an ambient capability/, 'effective only (file capabilities): refused')
  t.match(fileCaps, /`ip` commands/, 'saying why')
  t.match(fileCaps, /setpriv .*--ambient-caps=\+net_admin/, 'and how to grant it')
  t.match(fileCaps, /run it as root/)
  t.match(netAdminProblem(statusWith(NO_CAPS, { capAmb: NET_ADMIN })), /lacks/, 'ambient but not effective: lacks it')
  t.equal(netAdminProblem(statusWith(NET_ADMIN, { uid: 0, capAmb: NO_CAPS })), null, 'root: execve gives ip its capabilities')
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.boolean(),
      (eff, amb, isRoot) => {
        const hex = (v: bigint): string => v.toString(16).padStart(16, '0')
        const problem = netAdminProblem(statusWith(hex(eff), { uid: isRoot ? 0 : 1000, capAmb: hex(amb) }))
        const ok = (eff & 0x1000n) !== 0n && (isRoot || (amb & 0x1000n) !== 0n)
        return (problem === null) === ok
      },
    ),
  )
})
