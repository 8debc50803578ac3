import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import { deployProtocol } from "./Dinfer.js";

/**
 * Local and test deployments: deploys the permit-enabled test token first, then the protocol.
 * Parameters: `ignition/parameters/local.json` (tests pass the same file).
 */
export default buildModule("DinferLocal", (m) => {
  const token = m.contract("DinferTestToken", []);
  return { token, ...deployProtocol(m, token) };
});
