// The internet simulator's well-known port: where VPN clients connect unless told otherwise.
export const DEFAULT_SIMULATOR_PORT = 55555
