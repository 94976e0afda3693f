#!/bin/bash
# nook's results against podman's, test by test: of the tests podman passes
# (ok, a skip counted apart), how many nook passes, and the ones it fails.
#   compare.sh NOOK_RESULTS_DIR PODMAN_RESULTS_DIR
python3 - "$1" "$2" <<'PY'
import glob, os, re, sys
def load(d):
    out = {}
    for t in sorted(glob.glob(os.path.join(d, '*.tap'))):
        f = os.path.basename(t)[:-4]
        for line in open(t):
            m = re.match(r'^(ok|not ok) (\d+) (.*)', line)
            if m:
                skip = ' # skip' in m.group(3)
                name = m.group(3).split(' # skip')[0].strip()
                out[(f, name)] = 'skip' if m.group(1) == 'ok' and skip else m.group(1)
    return out
nook, pod = load(sys.argv[1]), load(sys.argv[2])
both = [k for k in pod if k in nook]
pod_ok = [k for k in both if pod[k] != 'not ok']
nook_ok = [k for k in pod_ok if nook[k] != 'not ok']
pod_pass = [k for k in both if pod[k] == 'ok']
nook_pass = [k for k in pod_pass if nook[k] == 'ok']
print(f'tests in both runs: {len(both)}')
print(f'podman ok (passed or skipped): {len(pod_ok)}; nook ok of those: {len(nook_ok)}')
print(f'podman passed (not skipped): {len(pod_pass)}; nook passed of those: {len(nook_pass)}')
print(f'nook ok where podman failed: {len([k for k in both if pod[k] == "not ok" and nook[k] != "not ok"])}')
print('\nfailed by nook, passed or skipped by podman:')
for k in pod_ok:
    if nook[k] == 'not ok': print(f'  {k[0]}: {k[1]}')
PY
