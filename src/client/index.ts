/** Moat's MQTT client (`moat/client`): no dependency outside the codec and Node built-ins (ws: loads `ws`). */
export { connect, MqttClient, type ClientOptions, type RequestOptions } from './client.js';
export { Subscription } from './subscription.js';
export { MemoryInflightStore, OutState, type InflightStore, type OutgoingRecord } from './inflight-store.js';
export { FileInflightStore } from './file-store.js';
export { ClientEngine, ClientState, type EngineOptions, type EnginePort } from './engine.js';
export type { EnhancedAuth } from './auth.js';
export { exponentialBackoff, type Backoff } from './backoff.js';
export { ClientErr } from './errors.js';
export { parseTarget, type TlsOptions, type TlsSessionStore, type Target } from './transport.js';
export type {
  Clock, ConnectInfo, Message, OfflineQueueOptions, OverflowPolicy, PublishOptions, PublishResult,
  ReconnectOptions, SubscribeOptions, WillOptions,
} from './types.js';
export { systemClock } from './types.js';
export { MoatError, isMoatError } from '../codec/index.js';
