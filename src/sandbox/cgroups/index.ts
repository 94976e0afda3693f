/**
 * cgroup v2 resource limits for `nook run`: the flags, and the container's
 * cgroup (created in the user's delegated subtree, joined by the sandbox
 * before it runs anything, removed after exit).
 */
export { createCgroup, releaseCgroupDir, type ContainerCgroup } from './cgroup';
export { resourceLimitsFromFlags } from './flags';
