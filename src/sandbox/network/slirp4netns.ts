/**
 * A private network through slirp4netns, for hosts that have it but not
 * pasta: it joins the waiting child's namespaces (--userns-path, then the
 * netns by PID), creates tap0 there and configures it (--configure) with its
 * fixed layout (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3), without the
 * host's loopback (--disable-host-loopback).
 *
 * Lifetime: slirp4netns stays in the foreground, says it is ready on
 * --ready-fd, and quits when --exit-fd hangs up: that is the container's
 * lifeline (lifeline.ts), whose other end only the helper's owner holds.
 *
 * Published ports, as podman's slirp4netns port handler does them: through
 * its API socket (slirp-api.ts), one add_hostfwd per port once it is ready.
 * The socket is bound before the ready byte, in a private 0700 directory of
 * nook's; it is needed only at start, so nook removes it (and the directory)
 * as soon as the ports are added, for a detached container too, whose nook
 * exits now: slirp4netns, pivoted into its sandbox, could not unlink it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import type { Readable } from 'node:stream';
import { NookError } from '../../errors';
import { findExecutable } from '../../util/which';
import type { PublishedPort } from '../spec';
import type { NetworkHelper } from './pasta';
import { tunError } from './available';
import type { Lifeline } from './lifeline';
import { addHostForwards, unsupportedPort } from './slirp-api';

/** `apiSocket`: where slirp4netns listens for add_hostfwd (only when there are ports to publish). */
export function slirpArgs(pid: number, apiSocket?: string): string[] {
  return [
    '--configure', '--mtu=65520', '--disable-host-loopback',
    '--enable-sandbox', '--enable-seccomp',
    '--ready-fd=3', '--exit-fd=4',
    ...(apiSocket ? [`--api-socket=${apiSocket}`] : []),
    `--userns-path=/proc/${pid}/ns/user`,
    String(pid), 'tap0',
  ];
}

export async function startSlirp4netns(pid: number, ports: readonly PublishedPort[], lifeline: Lifeline): Promise<NetworkHelper> {
  const unsupported = unsupportedPort(ports);
  if (unsupported) throw unsupported;
  const file = findExecutable('slirp4netns');
  if (!file)
    throw new NookError('--network slirp4netns needs the slirp4netns program, which is not installed', {
      hint: 'install slirp4netns, or use --network pasta or --network host',
    });
  const dir = ports.length ? apiDir() : undefined;
  const apiSocket = dir && path.join(dir, 'api.sock');
  try {
    const child = spawn(file, slirpArgs(pid, apiSocket), { stdio: ['ignore', 'ignore', 'pipe', 'pipe', lifeline.read.fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    lifeline.adopt(child.pid);
    try {
      await ready(child);
      if (apiSocket) await addHostForwards(apiSocket, ports);
    } catch (e) {
      lifeline.stop();
      throw e;
    }
    return detach(child, lifeline);
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The private directory for the API socket: the temporary one, unless its path is too long for a socket's (108 bytes). */
function apiDir(): string {
  const base = path.join(os.tmpdir(), 'nook-slirp-XXXXXX', 'api.sock').length < 100 ? os.tmpdir() : '/tmp';
  return fs.mkdtempSync(path.join(base, 'nook-slirp-')); // mode 0700
}

/** slirp4netns runs on without nook: nothing of it keeps nook's event loop alive. */
function detach(child: ChildProcess, lifeline: Lifeline): NetworkHelper {
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  (child.stdio[3] as unknown as { unref?: () => void }).unref?.();
  return lifeline;
}

/** Resolves on the ready byte; rejects, saying why, if slirp4netns exits first. */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const err: Buffer[] = [];
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    (child.stdio[3] as Readable).once('data', () => resolve());
    child.once('exit', (code) => {
      // Its last words may still be in the pipe: read stderr to its end first.
      if (child.stderr!.closed) fail(code);
      else child.stderr!.once('close', () => fail(code));
    });
    const fail = (code: number | null) => {
      const text = Buffer.concat(err).toString('utf8').trim();
      if (/tun/i.test(text)) reject(tunError('slirp4netns'));
      else reject(new NookError(`slirp4netns could not set up the container's network (exit ${code})${text ? `: ${text}` : ''}`, { hint: 'use --network host, or --network none for no network' }));
    };
  });
}
