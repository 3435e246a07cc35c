/**
 * The minimal socket the gateway core speaks to. The real server adapts `ws` to it
 * (ws-adapter.ts); protocol tests can drive the core with an in-memory socket.
 */
export interface GatewaySocket {
  /** Sends one text frame. A Buffer holds UTF-8 already encoded once for many sockets. */
  send(data: string | Buffer): void;
  close(code: number, reason: string): void;
  /** Bytes queued but not yet written: the slow-consumer bound is checked against it. */
  readonly bufferedAmount: number;
  /**
   * Stop / start reading the peer (FLOW7: its work queue is full). Optional: a transport
   * without them has its extra frames parked by the connection and refused past a cap.
   */
  pause?(): void;
  resume?(): void;
}

export interface ConnectionInfo {
  ip: string;
  /** The device-fingerprint cookie sent with the upgrade request, if any. */
  fingerprint?: string;
}

/** What the transport calls on the core for one socket. */
export interface ConnectionHandle {
  message(text: string): void;
  binary(): void;
  /** The transport saw the socket close (peer close, error or terminate). */
  closed(): void;
}
