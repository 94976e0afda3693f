/**
 * The addresses a container on a private network sees: slirp4netns's
 * well-known layout, used for pasta too, so both modes look alike from inside.
 * An address of its own (rather than a copy of the host's, pasta's default)
 * lets the container reach the host's own addresses.
 */
export const PRIVATE_NET = { address: '10.0.2.100', prefix: 24, gateway: '10.0.2.2', dns: '10.0.2.3' } as const;
