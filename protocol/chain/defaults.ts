// The node's well-known ports: what a peer dials when an address names no
// port, and where the report's scripts look for JSON-RPC.
export const DEFAULT_P2P_PORT = 5555
export const DEFAULT_RPC_PORT = 8888
