/**
 * Node-RED settings for the peer of the hub's drain benchmark; bench/peer.py starts it with
 * `node node_modules/node-red/red.js -s settings.js` and these environment variables:
 *
 *   PEER_USER_DIR       a throw-away user directory (the runtime's own state and the credentials
 *                       file, whose values are ${PEER_MQTT_USER} and ${PEER_MQTT_PASSWORD})
 *   PEER_MQTT_PORT      the benchmark's Mosquitto on 127.0.0.1
 *   PGHOST, PGPORT, PGUSER, PGDATABASE (node-postgres reads them)
 *                       the benchmark's database, holding the peer_messages hypertable
 *
 * Headless on purpose: no editor, admin API or HTTP nodes, so the process measured does only what
 * the flow does, and nothing in it reaches beyond this machine.
 */
const path = require("path");

if (!process.env.PEER_USER_DIR) {
    throw new Error("PEER_USER_DIR is not set: bench/peer.py sets it to a temporary directory");
}

module.exports = {
    flowFile: path.join(__dirname, "flow.json"),
    userDir: process.env.PEER_USER_DIR,
    // The credentials file holds only ${ENV} references, so there is nothing to encrypt.
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    telemetry: { enabled: false },
    functionGlobalContext: { pg: require("pg") },
    logging: { console: { level: "warn", metrics: false, audit: false } },
};
