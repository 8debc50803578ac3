// The node process helper is product code now (the demo and `dinfer devnet` start nodes too).
export { answersChainId, freePort, startNode, type StartNodeParameters, type StartNodeReturnType } from "../../offchain/devnet/node.js";
