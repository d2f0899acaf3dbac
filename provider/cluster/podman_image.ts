/** The example image `localhost/busybox:latest`, built from the host's busybox-static. */
import { join } from "node:path";
import { type PodmanOptions, runPodman } from "./podman_run.ts";

export const BUSYBOX_IMAGE = "localhost/busybox:latest";

/** Whether `path` exists (a dangling link counts). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Build `localhost/busybox:latest` from Debian's busybox-static when it is missing: a root with
 * bin/busybox and a link per applet, tarred, `podman import`ed with PATH=/bin. Idempotent.
 * Returns true when it built the image, false when it was already there.
 */
export async function ensureBusyboxImage(
  o: PodmanOptions & { image?: string; busybox?: string } = {},
): Promise<boolean> {
  const image = o.image ?? BUSYBOX_IMAGE;
  if ((await runPodman(o, ["image", "exists", image])).code === 0) return false;
  let busybox = o.busybox;
  if (!busybox) {
    for (const p of ["/bin/busybox", "/usr/bin/busybox"]) if (await exists(p)) busybox = p;
  }
  if (!busybox) {
    throw new Error("busybox not found: install Debian's busybox-static (scripts/install-podman.sh)");
  }
  const tmp = await Deno.makeTempDir({ prefix: "cirrus-busybox-" });
  try {
    const root = join(tmp, "root");
    for (const d of ["bin", "tmp", "www", "etc"]) await Deno.mkdir(join(root, d), { recursive: true });
    await Deno.chmod(join(root, "tmp"), 0o1777);
    await Deno.copyFile(busybox, join(root, "bin", "busybox"));
    await Deno.chmod(join(root, "bin", "busybox"), 0o755);
    await Deno.writeTextFile(
      join(root, "etc", "passwd"),
      "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
    );
    await Deno.writeTextFile(join(root, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
    const list = await new Deno.Command(busybox, { args: ["--list"], stdout: "piped", stderr: "null" })
      .output();
    for (const applet of new TextDecoder().decode(list.stdout).split("\n")) {
      if (!/^[\w.[-]+$/.test(applet) || applet === "busybox") continue;
      await Deno.symlink("busybox", join(root, "bin", applet)).catch(() => {});
    }
    const tar = join(tmp, "busybox.tar");
    const t = await new Deno.Command("tar", { args: ["-C", root, "-cf", tar, "."], stderr: "piped" })
      .output();
    if (t.code !== 0) throw new Error(`tar failed: ${new TextDecoder().decode(t.stderr)}`);
    const r = await runPodman(o, [
      "import",
      "--quiet",
      "--change",
      "ENV PATH=/bin",
      "--change",
      'CMD ["/bin/sh"]',
      tar,
      image,
    ]);
    if (r.code !== 0) throw new Error(`podman import failed: ${r.stderr.trim()}`);
    return true;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
