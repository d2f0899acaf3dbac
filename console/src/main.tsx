/** @jsxImportSource preact */
/// <reference lib="dom" />
/**
 * The cirrus web console: hash routes, the navigation, the pages.
 * @module
 */
import "@xterm/xterm/css/xterm.css";
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useKey } from "./store.ts";
import { Addr } from "./ui.tsx";
import { KeysPage } from "./pages/keys.tsx";
import { DeployPage } from "./pages/deploy.tsx";
import { DeploymentPage, DeploymentsPage } from "./pages/deployments.tsx";
import { OverviewPage } from "./pages/overview.tsx";
import {
  AccountPage,
  BlockPage,
  BlocksPage,
  OrdersPage,
  ProviderPage,
  ProvidersPage,
  Search,
  TxPage,
  ValidatorsPage,
} from "./pages/explorer.tsx";

function useRoute(): string {
  const [route, setRoute] = useState(location.hash.slice(1) || "/");
  useEffect(() => {
    const on = () => {
      setRoute(location.hash.slice(1) || "/");
      document.getElementById("main")?.focus();
    };
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function page(route: string) {
  const p = route.split("/").filter(Boolean).map(decodeURIComponent);
  switch (p[0]) {
    case undefined:
      return <OverviewPage />;
    case "keys":
      return <KeysPage />;
    case "deploy":
      return <DeployPage />;
    case "deployments":
      return p[1] ? <DeploymentPage dseq={Number(p[1])} /> : <DeploymentsPage />;
    case "explorer":
      switch (p[1]) {
        case undefined:
        case "blocks":
          return <BlocksPage />;
        case "block":
          return <BlockPage height={p[2] ?? "latest"} />;
        case "tx":
          return <TxPage id={p[2] ?? ""} />;
        case "account":
          return <AccountPage address={p[2] ?? ""} />;
        case "validators":
          return <ValidatorsPage />;
        case "providers":
          return <ProvidersPage />;
        case "provider":
          return <ProviderPage address={p[2] ?? ""} />;
        case "orders":
          return <OrdersPage />;
      }
  }
  return (
    <p>
      No page {route}. <a href="#/">Home</a>
    </p>
  );
}

const NAV: [string, string][] = [
  ["/", "Network"],
  ["/keys", "Keys"],
  ["/deploy", "Deploy"],
  ["/deployments", "Deployments"],
  ["/explorer/blocks", "Blocks"],
  ["/explorer/validators", "Validators"],
  ["/explorer/providers", "Providers"],
  ["/explorer/orders", "Orders"],
];

function App() {
  const route = useRoute();
  const key = useKey();
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById("main")?.focus();
        }}
      >
        Skip to content
      </a>
      <header>
        <span class="brand">cirrus console</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <a
                  href={`#${to}`}
                  aria-current={route === to || (to !== "/" && route.startsWith(to + "/"))
                    ? "page"
                    : undefined}
                >
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <Search />
        <span class="who" aria-live="polite">
          {key
            ? (
              <>
                key {key.name} <Addr a={key.address} />
              </>
            )
            : "locked"}
        </span>
      </header>
      <main id="main" tabIndex={-1}>{page(route)}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
