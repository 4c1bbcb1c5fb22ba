/**
 * Packet identifiers: non-zero [MQTT-2.2.1-3], unique among the client's unacknowledged PUBLISH,
 * SUBSCRIBE and UNSUBSCRIBE packets [MQTT-2.2.1-2]; one space for all three.
 */
export class PacketIds {
  private next = 1;
  private readonly used = new Set<number>();

  /** Returns a free identifier, or undefined when all 65,535 are in use. */
  allocate(): number | undefined {
    if (this.used.size >= 65_535) return undefined;
    while (this.used.has(this.next)) this.next = this.next === 65_535 ? 1 : this.next + 1;
    const id = this.next;
    this.used.add(id);
    this.next = id === 65_535 ? 1 : id + 1;
    return id;
  }

  /** Marks an identifier in use (restored from the in-flight store). */
  claim(id: number): void {
    this.used.add(id);
  }

  release(id: number): void {
    this.used.delete(id);
  }

  clear(): void {
    this.used.clear();
  }
}
