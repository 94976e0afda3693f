/**
 * Names for containers started without --name, in docker's style
 * ("adjective_scientist"), so that `nook ps` shows something to type.
 */
import { randomHex } from '../util/random';

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'gentle', 'happy', 'keen', 'lucid', 'merry', 'nifty',
  'quiet', 'sharp', 'tender', 'vivid', 'witty', 'zealous', 'bold', 'clever', 'jolly', 'proud'];
const NAMES = ['turing', 'hopper', 'lovelace', 'noether', 'curie', 'dijkstra', 'knuth', 'ritchie', 'thompson', 'liskov',
  'hamilton', 'shannon', 'babbage', 'euler', 'gauss', 'kepler', 'torvalds', 'wozniak', 'lamport', 'backus'];

export function randomName(): string {
  const r = Buffer.from(randomHex(4), 'hex');
  return `${ADJECTIVES[r[0] % ADJECTIVES.length]}_${NAMES[r[1] % NAMES.length]}${r[2] % 4 === 0 ? `_${r[3] % 100}` : ''}`;
}
