/**
 * Deployment txs: `deployment.create` (escrow funded, one order per group), `deployment.update`
 * (manifest hash only), `deployment.deposit`, `deployment.close`.
 * @module
 */
import { canonicalEncode } from "../../lib/cbor.ts";
import { bytesEqual } from "../../lib/crypto.ts";
import { deploymentIdOf, orderIdOf } from "../../lib/ids.ts";
import type { Group } from "../sdl/types.ts";
import { closeDeployment, touch } from "./closing.ts";
import { formatScaled } from "./decimal.ts";
import { reindexExhaust } from "./escrow.ts";
import { dec, fail, indexAdd, marketKeys as K, mustRecord, readRecord, writeRecord } from "./records.ts";
import { denomAccepted, fundingDenom, type Handler } from "./tx_common.ts";
import {
  type DeploymentRecord,
  ESCROW_LOW_BLOCKS_DEFAULT,
  type EscrowRecord,
  type MarketStore,
  type OrderRecord,
} from "./types.ts";
import { groupMaxPrice } from "./validate.ts";

function activeDeployment(s: MarketStore, owner: string, dseq: number): DeploymentRecord {
  const dep = readRecord<DeploymentRecord>(s, K.deployment(owner, dseq));
  if (!dep) {
    fail(`deployment ${owner}/${dseq} not found (deployments are addressed by the sender's own address)`);
  }
  if (dep!.state !== "active") fail(`deployment ${owner}/${dseq} is closed`);
  return dep!;
}

/** Handlers of the deployment txs. */
export const deploymentHandlers: Record<string, Handler> = {
  "deployment.create"(s, p, from, body) {
    const h = s.height;
    const dseq = (body.dseq as number | undefined) ?? h;
    const groups = body.groups as Group[];
    const deposit = body.deposit as { denom: string; amount: string };
    if (s.get(K.deployment(from, dseq))) fail(`deployment ${from}/${dseq} already exists`);
    if (groups.length > p.groupsPerDeploymentMax) {
      fail(`body.groups: at most ${p.groupsPerDeploymentMax} groups per deployment, got ${groups.length}`);
    }
    const denom = groups[0]!.units[0]!.price.denom;
    denomAccepted(p, denom, "body.groups price");
    fundingDenom(s, p, deposit.denom, "body.deposit");
    if (deposit.denom !== denom) {
      fail(`body.deposit: denom ${deposit.denom} differs from the prices' denom ${denom}`);
    }
    const amount = BigInt(deposit.amount);
    if (amount < BigInt(p.minDeposit)) {
      fail(
        `body.deposit: ${amount} ${deposit.denom} is below the minimum deposit ${p.minDeposit} ${deposit.denom}`,
      );
    }
    s.debit(from, amount);
    const closesAt = h + p.bidWindowBlocks;
    const dep: DeploymentRecord = {
      state: "active",
      manifestHash: body.manifestHash as string,
      denom,
      createdAt: h,
      updatedAt: h,
      groups: groups.map((g, i) => ({ gseq: i + 1, state: "open", spec: g, oseq: 1 })),
    };
    writeRecord(s, K.deployment(from, dseq), dep);
    const esc: EscrowRecord = {
      state: "open",
      denom,
      balance: dec(amount),
      deposited: dec(amount),
      transferred: "0",
      refunded: "0",
      settledAt: h,
      exhaustAt: null,
      leases: [],
      lowBlocks: p.escrowLowBlocks ?? ESCROW_LOW_BLOCKS_DEFAULT,
      lowAt: null,
      low: false,
    };
    writeRecord(s, K.escrow(from, dseq), esc);
    s.emit("deployment.created", {
      deployment: deploymentIdOf(from, dseq),
      owner: from,
      dseq: String(dseq),
      manifestHash: dep.manifestHash,
      deposit: dec(amount),
      denom,
      groups: String(groups.length),
    });
    groups.forEach((g, i) => {
      const oid = { owner: from, dseq, gseq: i + 1, oseq: 1 };
      const maxPrice = groupMaxPrice(g);
      const order: OrderRecord = {
        state: "open",
        denom,
        maxPrice: dec(maxPrice),
        createdAt: h,
        closesAt,
        bids: [],
      };
      writeRecord(s, K.order(oid), order);
      indexAdd(s, K.orderClose(closesAt), orderIdOf(oid));
      s.emit("order.opened", {
        order: orderIdOf(oid),
        owner: from,
        dseq: String(dseq),
        gseq: String(i + 1),
        oseq: "1",
        group: g.name,
        maxPrice: formatScaled(maxPrice),
        denom,
        closesAt: String(closesAt),
      });
    });
  },
  "deployment.update"(s, _p, from, body) {
    const dseq = body.dseq as number;
    const dep = activeDeployment(s, from, dseq);
    if (body.groups !== undefined) {
      if (!bytesEqual(canonicalEncode(dep.groups.map((g) => g.spec)), canonicalEncode(body.groups))) {
        fail(
          `body.groups: differ from the deployment's groups; resources, counts, placement and prices cannot change (close and re-create the deployment)`,
        );
      }
    }
    writeRecord(s, K.deployment(from, dseq), {
      ...dep,
      manifestHash: body.manifestHash as string,
      updatedAt: s.height,
    });
    s.emit("deployment.updated", {
      deployment: deploymentIdOf(from, dseq),
      owner: from,
      dseq: String(dseq),
      manifestHash: body.manifestHash as string,
    });
  },
  "deployment.deposit"(s, _p, from, body) {
    const dseq = body.dseq as number;
    activeDeployment(s, from, dseq);
    touch(s, from, dseq);
    activeDeployment(s, from, dseq); // the touch may have run an overdue exhaustion (dry runs only)
    const amount = BigInt(body.amount as string);
    s.debit(from, amount);
    const esc = mustRecord<EscrowRecord>(s, K.escrow(from, dseq), "escrow");
    writeRecord(s, K.escrow(from, dseq), {
      ...esc,
      balance: dec(BigInt(esc.balance) + amount),
      deposited: dec(BigInt(esc.deposited) + amount),
    });
    reindexExhaust(s, from, dseq);
    s.emit("deployment.deposit", {
      deployment: deploymentIdOf(from, dseq),
      owner: from,
      dseq: String(dseq),
      amount: dec(amount),
      denom: esc.denom,
    });
  },
  "deployment.close"(s, _p, from, body) {
    const dseq = body.dseq as number;
    activeDeployment(s, from, dseq);
    touch(s, from, dseq);
    activeDeployment(s, from, dseq);
    closeDeployment(s, from, dseq, "owner", s.height);
  },
};
