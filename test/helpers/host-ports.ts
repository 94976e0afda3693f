/**
 * The host's side of published-port tests: free ports, whether a port can
 * be bound again (its publisher let go), and one UDP exchange.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** A port nobody listens on right now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Whether a TCP port can be listened on (on every address) again. */
export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/** Whether a UDP port can be bound again. */
export function canBindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

/**
 * One UDP exchange with a server in a container: send `text` to
 * HOST:PORT until a reply comes (the server may not be listening yet: a
 * datagram sent before is lost, as UDP's are), or '(no reply)' after ~5 s.
 */
export async function askUdp(host: string, port: number, text: string): Promise<string> {
  const sock = dgram.createSocket('udp4');
  try {
    const reply = new Promise<string>((resolve) => sock.on('message', (m) => resolve(m.toString())));
    for (let i = 0; i < 50; i++) {
      sock.send(text, port, host);
      const got = await Promise.race([reply, new Promise<undefined>((res) => setTimeout(() => res(undefined), 100))]);
      if (got !== undefined) return got;
    }
    return '(no reply)';
  } finally {
    sock.close();
  }
}
