/**
 * Signed firmware delivery (`moat/firmware`): keys, envelopes, trust lists, manifests and their device-side
 * check, chunks, topics and the wolfMQTT-compatible format. Pure functions over bytes and files; the MQTT
 * device agent and pusher build on these. Every refusal is a MoatError with a FwErr code.
 */
export { FwErr, fwError, type FwErrCode } from './errors.js';
export { isVersion, parseVersion, compareVersions } from './version.js';
export {
  SIGNER_ALGS, algOf, generateSigner, keyIdOf, loadPublicKey, loadSigner, publicKeyFromSpki, spkiOf, writeSignerFiles,
  type PublicSignerKey, type SignerAlg, type SignerKey,
} from './keys.js';
export { encodeEnvelope, parseEnvelope, signEnvelope, verifyEnvelope, type Envelope, type KeySet } from './envelope.js';
export {
  MAX_TRUST_SEQUENCE_STEP, TRUST_TYPE, acceptTrustUpdate, createTrustList, encodeTrustList, loadTrustFile, parseTrustList, signTrustList, trustedKey,
  type TrustList, type TrustedKey,
} from './trust.js';
export { hashImage, imageChunks, verifyImageFile } from './image.js';
export {
  DEFAULT_CHUNK_SIZE, DEFAULT_MANIFEST_TTL_MS, MANIFEST_TYPE, buildManifest, checkLayout, encodeManifest, parseManifest,
  releaseIdOf, signManifest, validateManifest, type BuildManifestOptions, type Manifest, type Target,
} from './manifest.js';
export { CLOCK_SKEW_MS, DEFAULT_MAX_IMAGE_BYTES, checkManifest, type CheckedManifest, type ManifestCheckInput } from './manifest-check.js';
export {
  CHUNK_HEADER_BYTES, CHUNK_MAGIC, RELEASE_ID, chunkCount, chunkFilter, chunkLength, chunkOffset, chunkTopic, decodeChunk,
  encodeChunk, encodeChunkHeader, parseChunkTopic, verifyChunk, type ChunkLayout,
} from './chunks.js';
export {
  WOLFMQTT_TOPIC, assertDeviceId, assertProduct, fwPrefix, isValidDeviceId, isValidProduct, manifestTopic, statusFilter,
  statusTopic, trustTopic,
} from './topics.js';
export {
  WOLFMQTT_HEADER_BYTES, WOLFMQTT_MAX_SIG_BYTES, WOLFMQTT_PUBKEY_BYTES, decodeWolfMqtt, encodeWolfMqtt, encodeWolfMqttParts,
  keyFromX963, verifyWolfMqtt, x963Of, type WolfMqttFirmware,
} from './wolfmqtt-format.js';
export { MoatError, isMoatError } from '../codec/index.js';
export { STATUS_STATES, encodeStatus, isTerminal, parseStatus, type FirmwareStatus, type StatusState } from './status.js';
export {
  DEFAULT_PUBLISH_WINDOW, brokerMaxPacketSize, clearRelease, publishPacketBytes, publishRelease, publishTrust, readRetainedManifest,
  type ClearReleaseOptions, type FwClient, type PublishReleaseOptions, type PublishTrustOptions, type PublishedRelease, type RetainedManifest,
} from './publisher.js';
export {
  watchCampaign, type CampaignFailure, type CampaignSnapshot, type CampaignSummary, type DeviceProgress, type WatchCampaignOptions,
} from './progress.js';
export { startAgent, type AgentCounters, type AgentOptions, type FirmwareAgent, type InstallHook } from './agent.js';
