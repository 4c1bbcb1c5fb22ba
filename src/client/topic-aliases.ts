/**
 * Outgoing topic aliases (v5): up to the broker's Topic Alias Maximum [MQTT-3.2.2-17], none when it
 * is absent or 0 [MQTT-3.2.2-18], never 0 [MQTT-3.3.2-8]; first come first served. Mappings belong
 * to one network connection [MQTT-3.3.2-7]: `reset()` on every new one.
 */
export class OutgoingAliases {
  private readonly map = new Map<string, number>();
  private max = 0;

  reset(max: number): void {
    this.map.clear();
    this.max = max;
  }

  /** The alias to send with `topic`, and whether the topic itself may be left out. */
  lookup(topic: string): { alias: number; known: boolean } | undefined {
    const known = this.map.get(topic);
    if (known !== undefined) return { alias: known, known: true };
    if (this.map.size < this.max) return { alias: this.map.size + 1, known: false };
    return undefined;
  }

  /** Records a new alias once the PUBLISH that defines it is on the wire. */
  commit(topic: string, alias: number): void {
    this.map.set(topic, alias);
  }
}

/** Incoming topic aliases, up to the Topic Alias Maximum we sent in CONNECT [MQTT-3.3.2-10]. */
export class IncomingAliases {
  private readonly map = new Map<number, string>();
  max = 0;

  reset(max: number): void {
    this.map.clear();
    this.max = max;
  }

  /** Resolves the topic of a PUBLISH; undefined when the alias is out of range or unknown. */
  resolve(topic: string, alias: number | undefined): string | undefined {
    if (alias === undefined) return topic;
    if (alias === 0 || alias > this.max) return undefined;
    if (topic.length > 0) {
      this.map.set(alias, topic);
      return topic;
    }
    return this.map.get(alias);
  }
}
