export { verifyMetaSignature, signMetaBody } from './signature.js';
export { classifyGraphError, parseGraphError, GRAPH_ERROR_RULES, type GraphError } from './errors.js';
export { createGraphClient, type GraphClient, type GraphConfig } from './graph-client.js';
