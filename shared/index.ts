export * from './codes.js';
export * from './api.js';
export * from './protocol.js';
