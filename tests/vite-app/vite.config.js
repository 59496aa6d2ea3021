// No imports: the tests run Vite on a copy of this folder, away from node_modules.
export default {
  server: {
    // Requests arrive through the tunnel; in the tests its base domain is `localhost`
    // (`NAME.localhost:PORT`). For a real deployment put your tunnel's base domain
    // here, e.g. '.tunnel.example.com'.
    allowedHosts: ['.localhost'],
  },
};
