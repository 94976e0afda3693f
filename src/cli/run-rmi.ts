/**
 * podman's `run --rmi`: once the container is gone (--rmi implies --rm), its
 * image is removed, all its names with it, unless another container was
 * made from it (podman's rule; nothing is said either way).
 */
import { storedRequest } from '../container/spec-codec';
import { ContainerStore } from '../container/state';
import { collectGarbage } from '../image/store/gc';
import { findImage } from '../image/store/lookup';
import { ImageStore } from '../image/store/store';

export async function removeImageAfterRun(name: string): Promise<void> {
  const store = ImageStore.open();
  const found = findImage(store, name);
  if (!found) return;
  const id = found.record.id;
  const containers = ContainerStore.open();
  for (const c of containers.ids()) {
    try {
      if (storedRequest(containers.dir(c).config().spec)?.root.image?.id === id) return;
    } catch {
      return; // a record nook cannot read may use it: keep the image
    }
  }
  await store.updateRefs((refs) => {
    for (const n of store.namesOf(id, refs)) delete refs[n];
  });
  store.deleteImage(id);
  await collectGarbage(store);
}
