// node:events in the browser bundle: the part of EventEmitter the client uses, in a few hundred bytes.
export class EventEmitter {
  constructor() {
    this._events = new Map();
  }

  _list(event) {
    let l = this._events.get(event);
    if (!l) this._events.set(event, (l = []));
    return l;
  }

  on(event, fn) {
    this._list(event).push(fn);
    return this;
  }

  prependListener(event, fn) {
    this._list(event).unshift(fn);
    return this;
  }

  _once(event, fn) {
    const once = (...args) => {
      this.off(event, once);
      return fn.apply(this, args);
    };
    once.listener = fn;
    return once;
  }

  once(event, fn) {
    return this.on(event, this._once(event, fn));
  }

  prependOnceListener(event, fn) {
    return this.prependListener(event, this._once(event, fn));
  }

  off(event, fn) {
    const l = this._events.get(event) ?? [];
    for (let i = l.length - 1; i >= 0; i--) {
      if (l[i] === fn || l[i].listener === fn) {
        l.splice(i, 1);
        break;
      }
    }
    return this;
  }

  removeAllListeners(event) {
    if (event === undefined) this._events.clear();
    else this._events.delete(event);
    return this;
  }

  listenerCount(event) {
    return this._events.get(event)?.length ?? 0;
  }

  listeners(event) {
    return (this._events.get(event) ?? []).map((x) => x.listener ?? x);
  }

  emit(event, ...args) {
    const l = this._events.get(event);
    if (!l || l.length === 0) {
      // As Node: an 'error' nobody listens to is thrown, not lost.
      if (event === 'error') throw args[0] instanceof Error ? args[0] : new Error(String(args[0]));
      return false;
    }
    for (const fn of [...l]) fn.apply(this, args);
    return true;
  }
}

const proto = EventEmitter.prototype;
proto.addListener = proto.on;
proto.removeListener = proto.off;

export default EventEmitter;
