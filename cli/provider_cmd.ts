/**
 * `cirrus provider ...`: provider-side tools that need no running node. `provider render FILE`
 * prints the Kubernetes objects a provider would create for an SDL file.
 * @module
 */
import type { Command } from "commander";
import { stringify } from "yaml";
import { RENDER_LEASE_ID, renderSdl } from "../provider/cluster/render.ts";
import { KubernetesDriver } from "../provider/cluster/kubernetes.ts";
import { UserError } from "./util.ts";

/** Add `render` to the `provider` command group (made by market.ts; made here when absent). */
export function addProviderCommands(program: Command): void {
  const provider = program.commands.find((c) => c.name() === "provider") ??
    program.command("provider").description("provider tools");
  provider.command("render <file>")
    .description(
      "print the Kubernetes objects a provider would create for an SDL file " +
        "(--output yaml, the default, or json: a v1 List)",
    )
    .option(
      "--lease-id <id>",
      "lease id owner/dseq/gseq/oseq/provider (with several groups, group i gets gseq i)",
      RENDER_LEASE_ID,
    )
    .option("--group <name>", "only this placement group")
    .option("--kubeconfig <file>", "allocate NodePorts against this cluster's Services (read only)")
    .action(
      async (file: string, o: { leaseId: string; group?: string; kubeconfig?: string }, cmd: Command) => {
        const output = (cmd.optsWithGlobals() as { output?: string }).output ?? "text";
        let text: string;
        try {
          text = await Deno.readTextFile(file);
        } catch (e) {
          throw new UserError(`Cannot read ${file}: ${(e as Error).message}`);
        }
        const driver = o.kubeconfig ? new KubernetesDriver({ kubeconfig: o.kubeconfig }) : undefined;
        let objects;
        try {
          objects = await renderSdl(text, {
            leaseId: o.leaseId,
            ...(o.group ? { group: o.group } : {}),
            ...(driver ? { renderGroup: (l, g) => driver.render(l, g) } : {}),
          });
        } catch (e) {
          throw new UserError(`${file}: ${(e as Error).message}`);
        }
        if (output === "json") {
          console.log(JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2));
        } else {
          console.log(objects.map((x) => stringify(x, { lineWidth: 0 })).join("---\n").trimEnd());
        }
      },
    );
}
